"""Each study design through the participant's HTTP flow: the headphone check, CMOS's sign
correction, A/B's sides, MUSHRA's sliders and post-screening."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse

from apps.core.models import Annotation, Assignment, Item, MediaPlay, Participant, Project
from apps.core.uploads import items_import_upload
from apps.mos import qualification
from apps.mos.schemas import ANCHOR_70, HIDDEN_REFERENCE
from apps.mos.tasktype import MOS
from tests.crowd.test_flow import form_of
from tests.mos.stimuli import stimuli_zip, study_files

pytestmark = pytest.mark.django_db


def _live(project_factory, design: str, **config) -> Project:
    project = project_factory(design, **config)
    files, rows = study_files()
    upload = stimuli_zip(files, rows)
    report = items_import_upload(project=project, upload=upload, name=upload.name)
    assert report.ok, report.errors
    project.status = Project.Status.LIVE
    project.gold_rate = 0.0  # no traps in these tests: every item is a test item
    project.overlap = 10
    project.save(update_fields=["status", "gold_rate", "overlap"])
    return project


def _enter(client: Client, project: Project, pid: str):
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": "x"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    return client.post(f"/p/{project.slug}/instructions/", follow=True)


def _hear(client: Client, project: Project, assignment: Assignment) -> None:
    for key in MOS.must_play(assignment.item):
        url = reverse("crowd:media_played", args=[project.slug, assignment.pk, key])
        client.post(url, {"event": "started"})
        client.post(url, {"event": "ended"})
    MediaPlay.objects.filter(assignment=assignment).update(
        started_at=F("started_at") - timedelta(seconds=30)
    )


def _reserved(pid: str) -> Assignment:
    return Assignment.objects.select_related("item__project").get(
        participant__external_id=pid, status=Assignment.Status.RESERVED
    )


def test_the_headphone_check_passes_right_answers_and_screens_out_a_wrong_ear(mos_project):
    project = _live(mos_project, "acr", qc={"qualification": True})
    right, wrong = Client(), Client()
    for client, pid in ((right, "ok-ears"), (wrong, "swapped")):
        page = _enter(client, project, pid)
        assert page.redirect_chain[-1][0].endswith("/qualification/")
        html = page.content.decode()
        participant = Participant.objects.get(external_id=pid)
        answers = qualification._selection(participant)["answers"]
        sources = re.findall(r'src="([^"]+\.ogg)"', html)
        assert len(sources) == len(answers) == 7
        assert not any(side in src for src in sources for side in ("left", "right"))
        if pid == "swapped":
            answers = {k: {"left": "right", "right": "left"}.get(v, v) for k, v in answers.items()}
        client.post(f"/p/{project.slug}/qualification/", answers)
    assert Participant.objects.get(external_id="ok-ears").qualification_passed is True
    swapped = Participant.objects.get(external_id="swapped")
    assert swapped.status == Participant.Status.SCREENED
    assert "left/right" in " ".join(swapped.qualification["problems"])
    assert right.get(f"/p/{project.slug}/annotate/").status_code == 200
    assert Assignment.objects.filter(participant__external_id="ok-ears").exists()


def test_without_the_check_listeners_go_straight_to_the_clips(mos_project):
    project = _live(mos_project, "acr", qc={"qualification": False})
    page = _enter(Client(), project, "no-check")
    assert page.redirect_chain[-1][0].endswith("/annotate/")


@pytest.mark.parametrize("shown", [2, -1])
def test_cmos_votes_are_sign_corrected_to_system_vs_reference(mos_project, shown):
    project = _live(mos_project, "ccr")
    orders = set()
    # The order is a coin per (item, listener) from their ids: listeners until both came up
    # (after 30 the chance of one order only is 2e-9).
    for n in range(30):
        if len(orders) == 2 and n >= 4:
            break
        client, pid = Client(), f"ccr-{n}"
        page = _enter(client, project, pid)
        assignment = _reserved(pid)
        order = re.search(r'name="order" value="(rp|pr)"', page.content.decode()).group(1)
        orders.add(order)
        _hear(client, project, assignment)
        action, token = form_of(page)
        client.post(action, {"shown": shown, "order": order, "client_token": token})
        stored = Annotation.objects.get(assignment=assignment).value
        assert stored == {
            "shown": shown,
            "order": order,
            "score": shown if order == "rp" else -shown,
        }
    assert orders == {"rp", "pr"}


def test_ab_choices_become_the_preferred_system(mos_project):
    project = _live(mos_project, "ab")
    client = Client()
    page = _enter(client, project, "ab-1")
    assignment = _reserved("ab-1")
    html = page.content.decode()
    order = re.search(r'name="order" value="(ab|ba)"', html).group(1)
    _hear(client, project, assignment)
    action, token = form_of(page)
    client.post(action, {"choice": "first", "order": order, "client_token": token})
    value = Annotation.objects.get(assignment=assignment).value
    assert value["preferred"] == ("a" if order == "ab" else "b")
    results = MOS.results(project)
    assert results.tables[0].title.startswith("A/B preference")


def _mushra_answer(item: Item, hidden: float, mid_anchor: float, rest: float = 50) -> dict:
    fields = {}
    for key, system in item.payload["conditions"].items():
        fields[key] = {HIDDEN_REFERENCE: hidden, ANCHOR_70: mid_anchor}.get(system, rest)
    return fields


def test_mushra_needs_every_slider_and_screens_listeners_by_the_hidden_reference(mos_project):
    project = _live(mos_project, "mushra")
    # listener 0 cannot tell the hidden reference: BS.1534 post-screening excludes them
    for n, hidden in enumerate([40, 95, 100, 92]):
        client, pid = Client(), f"m-{n}"
        page = _enter(client, project, pid)
        while True:
            assignment = _reserved(pid)
            item = assignment.item
            _hear(client, project, assignment)
            action, token = form_of(page)
            fields = _mushra_answer(item, hidden, 60)
            if n == 0 and not Annotation.objects.exists():
                partial = dict(list(fields.items())[:-1])
                refused = client.post(
                    action, {**partial, "client_token": token}, HTTP_HX_REQUEST="true"
                )
                assert "not rated yet" in refused.content.decode()
                assert not Annotation.objects.exists()
            page = client.post(action, {**fields, "client_token": token}, follow=True)
            if not Assignment.objects.filter(
                participant__external_id=pid, status=Assignment.Status.RESERVED
            ).exists():
                break
    stored = Annotation.objects.filter(participant__external_id="m-1").first().value
    assert stored["scores"][HIDDEN_REFERENCE] == 95
    assert set(stored["scores"]) == set(
        Item.objects.filter(project=project).first().payload["conditions"].values()
    )
    metrics = {m.key: m.value for m in MOS.results(project).metrics}
    assert metrics["excluded"] == 1 and metrics["listeners"] == 4
    table = next(t for t in MOS.results(project).tables if t.title.startswith("Mean score"))
    hidden_row = next(r for r in table.rows if r[0] == HIDDEN_REFERENCE)
    assert hidden_row[1].startswith(f"{(95 + 100 + 92) / 3:.2f}")
