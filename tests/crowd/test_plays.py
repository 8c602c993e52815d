"""Heard to the end, enforced on the server: play events over HTTP and the submit check.

The test-choice task type is made to require its clip (``must_play``); time is moved by
shifting the recorded plays back rather than by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse

from apps.core import registry
from apps.core.models import Annotation, Assignment, MediaPlay
from tests.crowd.test_flow import form_of
from tests.factories import ItemFactory, attach_media, wav_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def listening(project, settings, tmp_path, monkeypatch):
    """A one-item study whose 2-second clip must be heard before answering."""
    settings.MEDIA_ROOT = tmp_path
    item = ItemFactory(project=project, external_id="u1")
    media = attach_media(item, "main", wav_bytes(2.0), "u1.wav")
    media.duration_s = 2.0
    media.save(update_fields=["duration_s"])
    monkeypatch.setattr(
        type(registry.get(project.task_type)), "must_play", lambda self, i: ["main"]
    )
    return item


def _enter(client: Client, project, pid: str = "p1"):
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": "x"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    page = client.get(f"/p/{project.slug}/annotate/")
    return page, Assignment.objects.get(participant__external_id=pid)


def _played(project, assignment, key="main") -> str:
    return reverse("crowd:media_played", args=[project.slug, assignment.pk, key])


def _back(assignment, seconds: float) -> None:
    """As if the plays had happened ``seconds`` earlier."""
    MediaPlay.objects.filter(assignment=assignment).update(
        started_at=F("started_at") - timedelta(seconds=seconds),
        ended_at=F("ended_at") - timedelta(seconds=seconds),
    )


def test_an_answer_before_the_clip_was_heard_is_refused_and_kept_open(client, project, listening):
    page, assignment = _enter(client, project)
    action, token = form_of(page)
    response = client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "listen to the whole clip" in response.content.decode()
    assert not Annotation.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.RESERVED


def test_a_forged_early_submit_after_a_start_is_refused(client, project, listening):
    page, assignment = _enter(client, project)
    action, token = form_of(page)
    url = _played(project, assignment)
    assert client.post(url, {"event": "started"}).status_code == 204
    # "ended" straight away, as a script would forge it: under the clip's 2 s
    assert client.post(url, {"event": "ended"}).status_code == 204
    response = client.post(action, {"choice": "a", "client_token": token})
    assert response.status_code == 409
    assert not Annotation.objects.exists()


def test_seeking_to_the_end_does_not_count(client, project, listening):
    page, assignment = _enter(client, project)
    action, token = form_of(page)
    url = _played(project, assignment)
    client.post(url, {"event": "started"})
    _back(assignment, 5)  # the start was long ago …
    client.post(url, {"event": "ended"})
    MediaPlay.objects.filter(assignment=assignment).update(ended_at=F("started_at"))  # … but
    # the end came at once: a seek
    assert client.post(action, {"choice": "a", "client_token": token}).status_code == 409


def test_a_clip_heard_to_the_end_lets_the_answer_in(client, project, listening):
    page, assignment = _enter(client, project)
    action, token = form_of(page)
    url = _played(project, assignment)
    client.post(url, {"event": "started"})
    MediaPlay.objects.filter(assignment=assignment).update(
        started_at=F("started_at") - timedelta(seconds=2.1)
    )
    client.post(url, {"event": "ended"})
    response = client.post(action, {"choice": "a", "client_token": token})
    assert response.status_code in (200, 302)
    assert Annotation.objects.get().value == {"choice": "a"}
    play = MediaPlay.objects.get()
    assert play.ended_at is not None and play.key == "main"


def test_an_empty_answer_gets_its_field_error_first(client, project, listening):
    page, assignment = _enter(client, project)
    action, token = form_of(page)
    response = client.post(action, {"client_token": token}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_play_events_for_a_foreign_assignment_or_file_are_404(client, project, listening):
    page, assignment = _enter(client, project)
    other = Client()
    _enter(other, project, "p2")
    assert other.post(_played(project, assignment), {"event": "started"}).status_code == 404
    assert (
        client.post(_played(project, assignment, "nope"), {"event": "started"}).status_code == 404
    )
    assert client.post(_played(project, assignment), {"event": "paused"}).status_code == 400
    assert client.get(_played(project, assignment)).status_code == 405
    assert not MediaPlay.objects.exists()
