"""Gold items that are uploaded get served: a project at gold rate 0 gets one on import, and
the Launch and Quality tabs warn while gold items exist that the rate keeps from anyone."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.core.models import Item, Project
from apps.dashboard import services
from apps.dashboard.tasks import items_import_job

from .test_import_export import upload

pytestmark = pytest.mark.django_db

ROWS = [
    {"id": "r1", "text": "regular one"},
    {"id": "r2", "text": "regular two"},
    {"id": "g1", "text": "a gold item", "kind": "gold", "gold": {"choice": "a"}},
    {"id": "g2", "text": "another", "kind": "gold", "gold": {"choice": "b"}},
]


def jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_importing_gold_at_rate_zero_sets_a_gold_rate_and_says_so(client, researcher, project):
    assert project.gold_rate == 0
    client.force_login(researcher)
    page = upload(client, project, "items.jsonl", jsonl(ROWS)).content.decode()
    project.refresh_from_db()
    assert project.gold_rate == services.DEFAULT_GOLD_RATE == 0.1
    assert "2 gold or attention-check items imported while the gold rate was 0" in page
    assert "the gold rate is now 0.1 (one served item in 10)" in page
    for tab in ("launch", "quality"):
        html = client.get(reverse(f"dashboard:{tab}", args=[project.slug])).content.decode()
        assert 'id="gold-unserved"' not in html, tab


def test_a_gold_rate_already_set_is_kept_and_regular_items_change_nothing(
    client, researcher, project
):
    Project.objects.filter(pk=project.pk).update(gold_rate=0.25)
    client.force_login(researcher)
    page = upload(client, project, "items.jsonl", jsonl(ROWS)).content.decode()
    project.refresh_from_db()
    assert project.gold_rate == 0.25 and "gold rate is now" not in page

    other = Project.objects.create(
        slug="plain", title="Plain", owner=project.owner, task_type=project.task_type
    )
    client.force_login(project.owner)
    upload(client, other, "items.jsonl", jsonl(ROWS[:2]))
    other.refresh_from_db()
    assert other.gold_rate == 0 and other.items.count() == 2


def test_a_worker_import_sets_the_gold_rate_too(client, researcher, project, monkeypatch):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    monkeypatch.setattr(items_import_job, "delay", lambda *args: None)
    client.force_login(researcher)
    job = upload(client, project, "items.jsonl", jsonl(ROWS)).context["job"]
    items_import_job.apply(args=[job.pk])
    job.refresh_from_db()
    project.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message
    assert project.gold_rate == 0.1
    assert any("the gold rate is now 0.1" in note for note in job.result["notes"])


def test_launch_and_quality_warn_while_gold_items_can_never_be_served(client, researcher, project):
    client.force_login(researcher)
    upload(client, project, "items.jsonl", jsonl(ROWS))
    Project.objects.filter(pk=project.pk).update(gold_rate=0)  # set back to 0 in Settings
    Item.objects.create(project=project, external_id="a1", kind="attention", gold_value={})
    for tab in ("launch", "quality"):
        html = client.get(reverse(f"dashboard:{tab}", args=[project.slug])).content.decode()
        assert (
            "3 gold or attention-check items will never be served: the gold rate is 0." in html
        ), tab
        assert reverse("dashboard:project_detail", args=[project.slug]) + "#field-gold_rate" in html
