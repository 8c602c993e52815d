"""Blocking from the dashboard fixes the data: the blocked worker's slots go to someone new."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import Annotation, Participant
from apps.dashboard.selectors import project_counts
from tests.crowd.test_flow import form_of, start
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def test_a_block_on_the_quality_tab_reopens_the_items_for_a_new_worker(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project, external_id="q1")
    first = Client()
    action, token = form_of(start(first, project, {"PROLIFIC_PID": "cheat"}))
    first.post(action, {"choice": "a", "client_token": token})
    assert Annotation.objects.count() == 1
    full = start(Client(), project, {"PROLIFIC_PID": "late-1"})
    assert "q1" not in full.content.decode()
    assert project_counts(project=project).items_complete == 1

    cheat = Participant.objects.get(external_id="cheat")
    client.force_login(project.owner)
    response = client.post(
        f"/projects/{project.slug}/participants/{cheat.public_id}/block/",
        {"blocked": "on", "reason": "too fast"},
    )
    assert response.status_code == 302
    assert project_counts(project=project).items_complete == 0

    served = start(Client(), project, {"PROLIFIC_PID": "late-2"})
    assert "Question q1" in served.content.decode()
    action, token = form_of(served)
    assert action
