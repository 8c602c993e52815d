"""A researcher's day in a real browser: create a project, upload items, launch, watch
progress after simulated answers, block a participant, download the export."""

from __future__ import annotations

import json
import os

import pytest

from apps.core.models import Participant, Project
from tests.api.helpers import answer_through_engine
from tests.factories import ParticipantFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        browser.close()


def test_a_researcher_runs_a_study_from_the_dashboard(live_server, page, tmp_path):
    UserFactory(username="ada")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "pw-chorus-123")
    page.click("button[type=submit]")

    page.click("text=New project")
    # Choosing a task type swaps its settings fields in (htmx): choose first, then type.
    page.select_option("#id_task_type_key", "test-choice")
    page.wait_for_load_state("networkidle")
    page.fill("#id_title", "Browser study")
    page.fill("#id_slug", "browser-study")
    page.fill("#id_overlap", "2")
    page.click("button:has-text('Create project')")
    page.wait_for_url("**/projects/browser-study/data/")

    data = tmp_path / "items.jsonl"
    data.write_text(
        "".join(json.dumps({"id": f"i{n}", "text": f"Item {n}"}) + "\n" for n in range(3))
    )
    page.set_input_files("#id_file", str(data))
    page.click("button:has-text('Upload and import')")
    assert "3 items stored." in page.inner_text("#import-ok")
    assert page.locator("#preview tbody tr").count() == 3

    page.click("nav.tabs >> text=Launch")
    page.click("button:has-text('Launch')")
    assert page.inner_text("#project-status") == "Live"
    project = Project.objects.get(slug="browser-study")
    assert project.status == Project.Status.LIVE

    good = ParticipantFactory(project=project, external_id="good")
    bad = ParticipantFactory(project=project, external_id="bad")
    assert answer_through_engine(good, lambda item: "a") == 3
    assert answer_through_engine(bad, lambda item: "b") == 3

    page.click("nav.tabs >> text=Progress")
    assert page.inner_text("[data-stat=items_complete]") == "3 / 3"
    assert page.inner_text("[data-stat=answers]") == "6 / 6"
    assert page.inner_text("[data-stat=participants]") == "2"

    page.click("nav.tabs >> text=Quality")
    page.click(f"#p-{bad.public_id} button:has-text('Block')")
    assert "Blocked" in page.inner_text(f"#p-{bad.public_id}")
    bad.refresh_from_db()
    assert bad.status == Participant.Status.BLOCKED

    page.click("nav.tabs >> text=Export")
    with page.expect_download() as info:
        page.click("#downloads tr:has-text('annotations') >> text=CSV")
    download = info.value
    assert download.suggested_filename == "browser-study-annotations.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()
    assert len(lines) == 1 + 6
    assert sum("blocked" in line for line in lines) == 3  # kept, and marked
