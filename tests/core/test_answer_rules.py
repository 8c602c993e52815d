"""A scripted worker (every item in a blink, always the same answer) is caught by the
fast-answer and constant-answer rules, shown on the Quality tab and flagged in the export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.models import Annotation, Participant
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


def _settings(project, owner, **fields) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=owner)[0]}")
    response = api.patch(f"/api/projects/{project.slug}/update/", fields, format="json")
    assert response.status_code == 200, response.content
    for name, value in fields.items():
        assert response.json()[name] == value


def _bot(project, pid: str, answers: list[str]) -> Client:
    """A script: enter, consent, start, then answer as fast as HTTP allows."""
    client = Client()
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": pid, "STUDY_ID": "s", "SESSION_ID": "x"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    page = client.get(f"/p/{project.slug}/annotate/")
    for choice in answers:
        html = page.content.decode()
        match = re.search(r'action="(/p/[^"]+/submit/\d+/)"', html)
        if match is None:
            break
        token = re.search(r'name="client_token" value="([0-9a-f]+)"', html).group(1)
        page = client.post(
            match.group(1), {"choice": choice, "client_token": token}, HTTP_HX_REQUEST="true"
        )
        if page.get("HX-Redirect"):
            page = client.get(page["HX-Redirect"])
    return client


@pytest.fixture
def many_items(project):
    ItemFactory.create_batch(12, project=project)
    return project


def test_a_worker_answering_in_a_blink_is_blocked_by_the_fast_answer_rule(many_items, owner):
    project = many_items
    _settings(project, owner, fast_block_below_s=1.5, fast_block_after=4)
    _bot(project, "speedy", ["a", "b", "a", "b", "a", "b", "a"])
    speedy = Participant.objects.get(external_id="speedy")
    assert speedy.status == Participant.Status.BLOCKED
    assert speedy.blocked_reason.startswith("Fast answers: median")
    assert "over 4 items" in speedy.blocked_reason
    assert Annotation.objects.filter(participant=speedy).count() == 4  # stopped at once
    page = _bot(project, "speedy", []).get(f"/p/{project.slug}/annotate/")
    assert b"can no longer take part" in page.content


def test_the_same_answer_every_time_is_blocked_by_the_constant_answer_rule(many_items, owner):
    project = many_items
    _settings(project, owner, constant_block_after=5)
    _bot(project, "careful", ["a", "b", "a", "b", "b", "a", "b"])
    _bot(project, "constant", ["b"] * 8)
    constant = Participant.objects.get(external_id="constant")
    careful = Participant.objects.get(external_id="careful")
    assert constant.status == Participant.Status.BLOCKED
    assert constant.blocked_reason == "Constant answers: the same answer (b) to the last 5 items"
    assert careful.status != Participant.Status.BLOCKED


def test_the_quality_tab_counts_blocks_and_flags_and_the_export_carries_the_flags(
    many_items, owner
):
    project = many_items
    _settings(project, owner, constant_block_after=4, fast_block_after=3)
    _bot(project, "same", ["a"] * 5)
    _bot(project, "varied", ["a", "b", "b", "a", "a", "b"])  # fast (a test), never blocked
    researcher = Client()
    researcher.force_login(owner)
    html = researcher.get(f"/projects/{project.slug}/quality/").content.decode()
    assert 'id="blocked-constant">1<' in html
    assert 'id="blocked-fast">0<' in html
    assert 'id="flagged-fast">2<' in html  # under 2 s per item, the flag's default
    assert 'data-flag="constant"' in html
    assert "Fast-answer rule: off" in html

    export = researcher.get(f"/projects/{project.slug}/export/participants.csv")
    assert export.status_code == 200
    rows = {
        r["external_id"]: r
        for r in csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    }
    assert rows["same"]["flag_constant_answers"] == "true"
    assert rows["same"]["status"] == "blocked"
    assert rows["varied"]["flag_constant_answers"] == "false"
    assert rows["varied"]["flag_fast_answers"] == "true"


def test_the_rules_are_settings_on_the_dashboard_form(project, owner):
    client = Client()
    client.force_login(owner)
    form = client.get(f"/projects/{project.slug}/").context["form"]
    assert {"fast_block_below_s", "fast_block_after", "constant_block_after"} <= set(form.fields)
