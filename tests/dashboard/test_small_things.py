"""Small things that looked broken in the first hour: counters, token message, form errors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core import engine
from apps.dashboard.selectors import project_counts
from tests.factories import ItemFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def test_the_participants_counter_counts_only_people_given_work(project):
    ItemFactory(project=project)
    worked = ParticipantFactory(project=project)
    engine.next_item(participant=worked)
    ParticipantFactory(project=project)  # consented, met a full study or left: no work
    assert project_counts(project=project).participants == 1


def test_the_first_api_token_is_announced_as_made_not_replaced(client, researcher):
    client.force_login(researcher)
    url = reverse("dashboard:api_token")
    first = client.post(url, follow=True).content.decode()
    assert "Your API token was made." in first and "old one" not in first
    second = client.post(url, follow=True).content.decode()
    assert "the old one no longer works" in second


def test_bad_json_in_other_settings_is_reported_at_the_top_of_the_form(client, project, owner):
    client.force_login(owner)
    response = client.post(
        reverse("dashboard:project_detail", args=[project.slug]),
        {
            "title": "T",
            "overlap": "2",
            "reservation_minutes": "15",
            "gold_rate": "0",
            "gold_block_after": "3",
            "config_json": "{not json",
        },
    )
    html = response.content.decode()
    top = html.index('id="settings-errors"')
    assert top < html.index("<h3>")  # above the first group of fields
    summary = html[top : html.index("</div>", top)]
    assert "The settings were not saved." in summary
    assert 'href="#field-config_json"' in summary and "Not valid JSON (line 1" in summary
