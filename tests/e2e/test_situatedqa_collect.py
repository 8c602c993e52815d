"""A collector in a real browser: a start date without a 4-digit year is refused beside the
field before anything is sent, and once it has one the answer is stored; two places with
the same answer are refused the same way."""

from __future__ import annotations

import pytest

from apps.core.models import Annotation, Item
from apps.core.services import project_create
from apps.situatedqa.answers import MESSAGES
from tests.e2e.browser import browser_page
from tests.situatedqa.conftest import answer, person, root, shipped, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ONE_EACH = {"identify_answers": 1, "collect_answers": 1, "validate_answers": 1}


def _collect_open(owner, layout, variant, qid):
    project = project_create(
        owner=owner,
        slug=f"e2e-{variant}",
        title="SituatedQA",
        task_type="situatedqa",
        status="live",
        config=ONE_EACH,
    )
    content = shipped(layout, variant).splitlines(keepends=True)[0]
    assert upload(project, content, f"{variant}.dev.jsonl").ok
    answer(root(project, variant, qid), person(project, "identifier"), {"dependent": "yes"})
    return project, Item.objects.get(project=project, stage="collect")


def _enter(page, live_server, project, pid):
    page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    page.get_by_role("button", name="I agree, continue").click()
    page.get_by_role("button", name="Start").click()


def test_a_date_without_a_year_is_refused_in_the_browser_and_a_good_one_submits(live_server, owner):
    project, collect = _collect_open(owner, "raw", "temp", -7924170207595297549)
    with browser_page() as page:
        _enter(page, live_server, project, "c-1")
        page.locator("#cur-answer").fill("2018")
        page.locator("#cur-start").fill("last summer")
        page.get_by_label("Missing: I could not find an earlier answer").check()
        assert page.locator("#prev-answer").is_disabled()
        page.get_by_role("button", name="Submit answers").click()
        error = page.locator("#cur-start-error")
        error.wait_for()
        assert error.inner_text() == MESSAGES["cur_year"].format(date="last summer")
        assert page.locator("#cur-start").get_attribute("aria-invalid") == "true"
        page.wait_for_timeout(300)  # had anything been sent, it would be stored by now
        assert not Annotation.objects.filter(item=collect).exists()

        page.locator("#cur-start").fill("July 11, 2018")
        assert page.locator("#cur-start-error").is_hidden()
        page.get_by_role("button", name="Submit answers").click()
        page.wait_for_url(f"**/p/{project.slug}/done/")

    value = Annotation.objects.get(item=collect).value
    assert value["cur_answer"] == "2018" and value["cur_answer_start"] == "July 11, 2018"
    assert value["prev_missing"] is True and value["prev_answer"] is None


def test_two_places_with_the_same_answer_are_refused_in_the_browser(live_server, owner):
    project, collect = _collect_open(owner, "raw", "geo", 9188546442463987107)
    with browser_page() as page:
        _enter(page, live_server, project, "c-2")
        page.get_by_label("Yes").check()
        page.locator("#new-location-1").fill("Texas")
        page.locator("#new-answer-1").fill("0 grams")
        page.locator("#new-location-2").fill("Ohio")
        page.locator("#new-answer-2").fill("0 Grams.")
        page.get_by_role("button", name="Submit answers").click()
        error = page.locator("#new-answer-2-error")
        error.wait_for()
        assert error.inner_text() == MESSAGES["same_answers"]
        assert not Annotation.objects.filter(item=collect).exists()
        page.locator("#new-answer-2").fill("2 ounces")
        page.get_by_role("button", name="Submit answers").click()
        page.wait_for_url(f"**/p/{project.slug}/done/")
    assert [p["location"] for p in Annotation.objects.get(item=collect).value["pairs"]] == [
        "Texas",
        "Ohio",
    ]
