"""A listener in a real browser: passes the headphone check, cannot rate before the clip has
played to the end (a forged early POST is refused by the server), answers a trapping clip
wrongly, and is excluded from the results while their votes stay in the database."""

from __future__ import annotations

import pytest

from apps.core.models import Annotation, Assignment, Item, Participant, Project
from apps.core.uploads import items_import_upload
from apps.mos import qualification
from apps.mos.tasktype import MOS
from tests.e2e.browser import browser_page
from tests.mos.stimuli import stimuli_zip, study_files

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FORGED_SUBMIT = """async () => {
    const form = document.querySelector('form.answer-form');
    const data = new FormData(form);
    data.set('score', '5');
    const response = await fetch(form.action, {method: 'POST', body: data});
    return response.status;
}"""


def _current(participant) -> Assignment | None:
    return (
        Assignment.objects.select_related("item")
        .filter(participant=participant, status=Assignment.Status.RESERVED)
        .first()
    )


def test_a_listener_is_checked_gated_and_screened(live_server, mos_project):
    project = mos_project("acr", slug="e2e-mos", qc={"qualification": True, "trapping": True})
    files, rows = study_files(seconds=1.0)
    upload = stimuli_zip(files, rows)
    assert items_import_upload(project=project, upload=upload, name=upload.name).ok
    project.status = Project.Status.LIVE
    project.gold_rate = 0.5  # every other clip is a trap: regular, trap, regular, trap
    project.save(update_fields=["status", "gold_rate"])

    with browser_page() as page:
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=ear-1&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        page.get_by_role("heading", name="Headphone check").wait_for()
        participant = Participant.objects.get(project=project)
        for key, answer in qualification._selection(participant)["answers"].items():
            if key.startswith("ch"):
                page.check(f"input[name={key}][value={answer}]")
            else:
                page.fill(f"input[name={key}]", " ".join(answer))
        page.get_by_role("button", name="Continue").click()

        page.wait_for_selector("[data-mos]")
        participant.refresh_from_db()
        assert participant.qualification_passed is True
        assert page.locator("fieldset[data-rating][disabled]").count() == 1
        assert page.locator("button[name=score]").first.is_disabled()
        # A script posting a rating before anything was played is refused by the server …
        assert page.evaluate(FORGED_SUBMIT) == 409
        # … and so is one sent right after the clip started, before it could have ended.
        page.click("[data-play]")
        page.wait_for_function("() => !document.querySelector('audio').paused")
        assert page.evaluate(FORGED_SUBMIT) == 409
        assert not Annotation.objects.exists()

        answered = 0
        while (assignment := _current(participant)) is not None:
            card = page.locator(f"#item-card[data-assignment='{assignment.pk}']")
            card.wait_for()
            if page.locator(".mos.unlocked").count() == 0:
                if page.locator("audio").evaluate("a => a.paused"):
                    page.click("[data-play]")
                page.wait_for_selector(".mos.unlocked", timeout=20000)
            expected = (assignment.item.gold_value or {}).get("score")
            key = str(expected % 5 + 1) if assignment.item.kind == Item.Kind.ATTENTION else "4"
            page.keyboard.press(key)
            page.wait_for_function(
                "id => !document.querySelector(`#item-card[data-assignment='${id}']`)",
                arg=str(assignment.pk),
            )
            answered += 1
        page.wait_for_url(f"**/p/{project.slug}/done/")

    votes = Annotation.objects.filter(participant=participant)
    assert votes.count() == answered == 4
    traps = votes.filter(item__kind=Item.Kind.ATTENTION)
    assert traps.count() == 2
    assert all(v.value["score"] != v.item.gold_value["score"] for v in traps)
    results = MOS.results(project)
    metrics = {m.key: m.value for m in results.metrics}
    assert metrics["excluded"] == 1 and metrics["votes_used"] == 0
    listeners = next(t for t in results.tables if t.title == "Each listener's ratings")
    assert "trapping clip" in listeners.rows[0][-1]
