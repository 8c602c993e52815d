"""The humor results are computed by a real Celery worker when new answers make them stale."""

from __future__ import annotations

import pytest

from apps.core import engine, registry
from apps.core.models import ResultsSnapshot
from apps.core.results_cache import results_version
from apps.core.tasks import results_compute
from tests.factories import ParticipantFactory
from tests.worker import celery_worker, send, wait_for

from .conftest import jsonl, post

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_stale_results_page_is_recomputed_by_the_worker(
    client, owner, humor_project, monkeypatch
):
    posts = [post(f"p{i}", f"post {i}", like=10 + i, haha=3 * i) for i in range(6)]
    assert registry.get("humor").import_items(humor_project, jsonl(posts)).ok
    client.force_login(owner)
    url = f"/projects/{humor_project.slug}/results/"
    client.get(url)  # first open: computed in the request
    first = ResultsSnapshot.objects.get(project=humor_project)

    worker = ParticipantFactory(project=humor_project, external_id="w")
    assignment = engine.next_item(participant=worker).assignment
    engine.annotation_submit(assignment=assignment, value={"funny": "yes"}, client_token="w-1")
    # The page's request goes to the worker's broker (the test process's default is a folder).
    monkeypatch.setattr(results_compute, "delay", lambda pk: send(results_compute, pk))
    with celery_worker("default"):
        assert "Computing updated results" in client.get(url).content.decode()
        wait_for(
            lambda: (
                ResultsSnapshot.objects.get(project=humor_project).version
                == results_version(humor_project)
            ),
            timeout=90,
        )
    snapshot = ResultsSnapshot.objects.get(project=humor_project)
    assert snapshot.computed_at > first.computed_at
    assert snapshot.data["answers"] == 1
    html = client.get(url).content.decode()
    assert "Computing updated results" not in html
