"""Entering a study writes nothing until the participant consents (issue 15.3)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from apps.core.models import Participant

pytestmark = pytest.mark.django_db


def test_cookieless_gets_of_the_study_link_create_no_participant_and_no_session(project):
    for n in range(50):  # a crawler, a link preview, a script
        response = Client().get(f"/p/{project.slug}/", {"PROLIFIC_PID": f"bot-{n}"})
        assert response.status_code == 302 and response.url.endswith("/consent/")
        Client().get(f"/p/{project.slug}/")
    assert Participant.objects.count() == 0
    assert Session.objects.count() == 0


def test_the_consent_page_is_shown_before_anyone_is_created_and_consent_creates_them(project):
    client = Client()
    client.get(
        f"/p/{project.slug}/", {"PROLIFIC_PID": "pp-9", "STUDY_ID": "st", "SESSION_ID": "se"}
    )
    page = client.get(f"/p/{project.slug}/consent/")
    assert page.status_code == 200 and b"I agree, continue" in page.content
    assert Participant.objects.count() == 0
    declined = client.post(f"/p/{project.slug}/consent/", {"agree": "no"})
    assert b"did not consent" in declined.content and Participant.objects.count() == 0

    response = client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    assert response.status_code == 302 and response.url.endswith("/instructions/")
    participant = Participant.objects.get()
    assert (participant.external_id, participant.session_id) == ("pp-9", "se")
    assert participant.consented_at is not None
    # Coming back with the same id finds them; nobody new is made.
    again = Client().get(f"/p/{project.slug}/", {"PROLIFIC_PID": "pp-9"})
    assert again.url.endswith("/instructions/") and Participant.objects.count() == 1


def test_a_forged_entry_cookie_is_ignored(project):
    client = Client()
    client.cookies[f"chorus_entry_{project.slug}"] = '{"PROLIFIC_PID": "victim"}'
    response = client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    assert response.status_code == 302 and response.url.endswith(f"/p/{project.slug}/")
    assert Participant.objects.count() == 0
