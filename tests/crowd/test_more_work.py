"""A participant who finished comes back to work that appeared since (a later stage's items,
new items): the done page offers it, they continue, and finish again with the same code."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import Annotation, Participant
from tests.crowd.test_flow import form_of
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def _finish_one(client: Client, project) -> Participant:
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": "w-1", "STUDY_ID": "s", "SESSION_ID": "x"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    page = client.post(f"/p/{project.slug}/instructions/", follow=True)
    action, token = form_of(page)
    done = client.post(action, {"choice": "a", "client_token": token}, follow=True)
    assert done.redirect_chain[-1][0].endswith("/done/")
    participant = Participant.objects.get(external_id="w-1")
    assert participant.status == Participant.Status.FINISHED
    return participant


def test_new_work_is_offered_on_the_done_page_and_taken_up(client, project):
    ItemFactory(project=project, external_id="first")
    participant = _finish_one(client, project)
    page = client.get(f"/p/{project.slug}/done/").content.decode()
    assert project.completion_code in page and "More items are waiting" not in page

    ItemFactory(project=project, external_id="second")  # e.g. the next stage's item
    page = client.get(f"/p/{project.slug}/done/").content.decode()
    assert "More items are waiting" in page and project.completion_code in page

    annotate = client.post(f"/p/{project.slug}/resume/", follow=True)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE
    action, token = form_of(annotate)
    done = client.post(action, {"choice": "b", "client_token": token}, follow=True)
    assert done.redirect_chain[-1][0].endswith("/done/")
    participant.refresh_from_db()
    assert participant.status == Participant.Status.FINISHED
    assert Annotation.objects.filter(participant=participant).count() == 2
    assert "More items are waiting" not in done.content.decode()


def test_resume_without_new_work_changes_nothing(client, project):
    ItemFactory(project=project, external_id="only")
    participant = _finish_one(client, project)
    response = client.post(f"/p/{project.slug}/resume/", follow=True)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.FINISHED
    assert response.redirect_chain[-1][0].endswith("/done/")


def test_a_capped_participant_is_not_offered_more(client, project):
    project.items_per_participant = 1
    project.save(update_fields=["items_per_participant"])
    ItemFactory(project=project, external_id="one")
    _finish_one(client, project)
    ItemFactory(project=project, external_id="two")
    assert "More items are waiting" not in client.get(f"/p/{project.slug}/done/").content.decode()
