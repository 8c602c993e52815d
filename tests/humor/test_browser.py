"""A participant labels humor posts with the keyboard (keys 1 / 2, S) in headless Chromium."""

from __future__ import annotations

import os

import pytest

from apps.core import registry
from apps.core.models import Annotation, Assignment, Participant
from tests.e2e.browser import browser_page

from .conftest import jsonl, post

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page():
    with browser_page() as page:
        yield page


def test_a_participant_labels_posts_with_keys_1_2_and_skips_with_s(
    live_server, page, humor_project
):
    humor_project.overlap = 1
    humor_project.save(update_fields=["overlap"])
    posts = [
        post(f"p{i}", f"Post number {i}: see https://example.org/{i}", like=10, haha=i)
        for i in range(3)
    ]
    report = registry.get("humor").import_items(humor_project, jsonl(posts))
    assert report.ok, report.errors

    page.goto(f"{live_server.url}/p/{humor_project.slug}/?PROLIFIC_PID=browser-1")
    page.get_by_role("button", name="I agree, continue").click()
    page.get_by_role("button", name="Start").click()
    card = page.locator("#item-card")
    card.get_by_text("Is this post meant to be funny?").wait_for()
    assert card.locator(".post-text a").count() == 0
    assert card.locator(".post-text .link").first.inner_text().startswith("https://example.org/")

    seen = []
    for key in ("1", "2", "s"):
        seen.append(card.get_attribute("data-assignment"))
        page.keyboard.press(key)
        if key != "s":
            page.wait_for_function(
                "old => { const c = document.getElementById('item-card');"
                " return !c || c.dataset.assignment !== old; }",
                arg=seen[-1],
            )
    page.wait_for_url("**/done/")
    assert "code" in page.content().lower()

    participant = Participant.objects.get(external_id="browser-1")
    values = [
        a.value
        for a in Annotation.objects.filter(participant=participant).order_by(
            "assignment__reserved_at"
        )
    ]
    assert values == [{"funny": "yes"}, {"funny": "no"}]
    assert (
        Assignment.objects.filter(participant=participant, status=Assignment.Status.SKIPPED).count()
        == 1
    )


def test_the_results_cards_explain_themselves_inside_their_boxes(live_server, page, humor_project):
    from .conftest import configure
    from .test_results import POSTS

    configure(humor_project, k=20000)
    assert registry.get("humor").import_items(humor_project, jsonl(POSTS)).ok
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", humor_project.owner.username)
    page.fill("#id_password", "pw-chorus-123")
    page.locator("form [type=submit]").click()
    page.goto(f"{live_server.url}/projects/{humor_project.slug}/results/")
    k_card = page.locator("#metric-k")
    assert k_card.locator(".value").inner_text() == "4"
    assert "capped from 20,000: half the 8 posts with reactions" in k_card.inner_text()
    humorous = page.locator("#metric-humorous .help")
    assert humorous.is_visible() and "HS = (h/t)·tanh(t/50)" in humorous.inner_text()
    outside = page.evaluate(
        """() => [...document.querySelectorAll('.stat .help')].filter(h => {
             const c = h.closest('.stat').getBoundingClientRect(), r = h.getBoundingClientRect();
             return r.left < c.left || r.right > c.right + 0.5 || r.bottom > c.bottom + 0.5;
           }).map(h => h.closest('.stat').id)"""
    )
    assert page.locator(".stat .help").count() >= 10 and outside == []
    assert "`" not in page.inner_text("main")
