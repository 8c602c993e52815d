"""A whole crowdworker session in a real browser: Prolific entry → consent → keyboard → code."""

from __future__ import annotations

import pytest

from apps.core.models import Annotation, Participant
from tests.e2e.browser import browser_page
from tests.factories import ItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_prolific_worker_answers_every_item_with_the_keyboard(live_server, project):
    project.instructions = "Pick **A** or **B** for each question."
    project.save()
    for i in range(5):
        ItemFactory(project=project, external_id=f"q{i}", payload={"text": f"Question number {i}"})

    with browser_page(width=360, height=740) as page:  # a phone-sized screen
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=pp-42&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("heading", name="Instructions").wait_for()
        assert "Pick A or B" in page.inner_text("main")
        page.get_by_role("button", name="Start").click()
        page.wait_for_url(f"**/p/{project.slug}/annotate/")
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        for i in range(5):
            page.locator(".progress-text").filter(has_text=f"{i + 1} of 5").wait_for()
            page.keyboard.press("1" if i % 2 == 0 else "2")
        page.wait_for_url(f"**/p/{project.slug}/done/")
        # Every answer went through htmx: the only full navigation is to the done page.
        assert [url.rsplit("/p/", 1)[1] for url in navigations] == [f"{project.slug}/done/"]
        code = page.inner_text("#completion-code").strip()
        link = page.get_attribute("#complete-link", "href")

    assert code == project.completion_code
    assert link == f"https://app.prolific.com/submissions/complete?cc={code}"
    participant = Participant.objects.get(external_id="pp-42")
    assert participant.status == "finished"
    values = list(Annotation.objects.order_by("id").values_list("value", flat=True))
    assert values == [{"choice": c} for c in "ababa"]
