"""Every page sends an enforcing Content-Security-Policy, and the pages still work under it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.core.models import Annotation
from tests.e2e.browser import browser_page
from tests.factories import UserFactory

CSP = "Content-Security-Policy"


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/accounts/login/", "/", "/projects/study/", "/p/study/", "/admin/login/"]
)
def test_every_page_sends_an_enforcing_policy_without_inline_script(client, researcher, url):
    from tests.factories import ProjectFactory

    ProjectFactory(slug="study", owner=researcher)
    client.force_login(researcher)
    response = client.get(url, follow=True)
    assert response.status_code == 200
    assert "Content-Security-Policy-Report-Only" not in response
    policy = _directives(response[CSP])
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    page = response.content.decode()
    assert "<script>" not in page and " onclick=" not in page and "javascript:" not in page


@pytest.mark.django_db
def test_the_api_docs_serve_swagger_from_this_site_with_nothing_inline(client, researcher):
    client.force_login(researcher)
    response = client.get(reverse("api:docs"))
    policy = _directives(response[CSP])
    assert policy["script-src"] == ["'self'"]
    page = response.content.decode()
    assert "<script>" not in page and "cdn." not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page


CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_and_the_annotate_loop_work_with_no_policy_violation(live_server, tmp_path):
    ada = UserFactory(username="ada")
    problems: list[str] = []
    with browser_page() as page:
        page.add_init_script(CSP_LISTENER)
        page.on(
            "console",
            lambda m: problems.append(f"{page.url}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))

        def check() -> None:
            problems.extend(f"{page.url}: {v}" for v in page.evaluate("window.__csp"))

        page.goto(live_server.url + "/accounts/login/")
        page.fill("#id_username", "ada")
        page.fill("#id_password", "pw-chorus-123")
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        check()

        # htmx swaps the task type's settings in: scripts from static files still run.
        page.click("text=New project")
        page.select_option("#id_task_type_key", "test-choice")
        page.wait_for_load_state("networkidle")
        page.fill("#id_title", "CSP study")
        page.fill("#id_slug", "csp-study")
        page.click("button:has-text('Create project')")
        page.wait_for_url("**/projects/csp-study/data/")
        check()
        data = tmp_path / "items.jsonl"
        data.write_text(
            "".join(json.dumps({"id": f"i{n}", "text": f"Item {n}"}) + "\n" for n in range(2))
        )
        page.set_input_files("input[type=file]", str(data))
        page.click("button:has-text('Import')")
        page.get_by_text("2 items stored").first.wait_for()
        check()
        for tab in ("launch", "progress", "quality", "results", "export", ""):
            page.goto(f"{live_server.url}/projects/csp-study/{tab}{'/' if tab else ''}")
            check()
        page.goto(f"{live_server.url}/projects/csp-study/launch/")
        page.once("dialog", lambda dialog: dialog.accept())  # "Launch now?" (chorus.js)
        page.click("button:has-text('Launch')")
        page.wait_for_load_state("networkidle")
        page.goto(live_server.url + reverse("dashboard:api_token"))
        page.goto(live_server.url + reverse("password_change"))
        check()

        # A participant's whole session, answers sent by htmx.
        page.goto(f"{live_server.url}/p/csp-study/?PROLIFIC_PID=csp-1&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        page.wait_for_url("**/p/csp-study/annotate/")
        for i in range(2):
            page.locator(".progress-text").filter(has_text=f"{i + 1} of 2").wait_for()
            page.keyboard.press("1")
        page.wait_for_url("**/p/csp-study/done/")
        check()

        page.goto(live_server.url + "/admin/login/")
        check()

    assert Annotation.objects.filter(participant__external_id="csp-1").count() == 2
    assert ada.is_authenticated
    assert not problems, "\n".join(problems)
