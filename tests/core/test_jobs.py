"""The Job lease, the housekeeping task and broker outages, on a real worker through Redis."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.core import registry
from apps.core.jobs import MAX_ATTEMPTS, job_create, job_enqueue, jobs_fail_stale
from apps.core.models import Item, Job
from apps.core.tasks import job_ping
from apps.dashboard import services
from tests.factories import ProjectFactory
from tests.worker import broker_url, celery_worker, require_broker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

UNREACHABLE = "redis://127.0.0.1:1/0"


@contextmanager
def _app_broker(url: str):
    """Point this test process's Celery app (what job_enqueue and the reaper send with) at url."""
    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.broker_url = saved
        app._pool = None
        app.amqp._producer_pool = None


@pytest.fixture
def broker():
    require_broker(broker_url())
    with _app_broker(broker_url()):
        yield


def _later(seconds: float = 60) -> timezone.datetime:
    return timezone.now() + timedelta(seconds=seconds)


def test_a_redelivered_copy_of_a_running_job_does_nothing_while_its_lease_is_alive(broker):
    job = job_create(kind="ping")
    job_enqueue(job, job_ping)
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=1,
        lease_owner="other-worker:1:abc",
        lease_expires_at=_later(600),
    )
    with celery_worker("default") as worker:
        job_ping.delay(job.pk)  # what the broker does after its visibility timeout

        def ignored():
            worker.log.seek(0)
            return "this delivery does nothing" in worker.log.read()

        wait_for(ignored, timeout=60)
        job.refresh_from_db()
        assert job.status == Job.Status.RUNNING and job.attempts == 1
        assert job.lease_owner == "other-worker:1:abc"

        # That worker dies: once its lease has run out, the housekeeping task sends the job
        # again and this worker runs it.
        Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(1))
        assert jobs_fail_stale() == 1
        wait_for(lambda: Job.objects.get(pk=job.pk).is_done, timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {"pong": True}
    assert job.attempts == 2 and job.lease_owner == "" and job.lease_expires_at is None


def test_a_job_whose_worker_died_too_often_is_failed_not_retried():
    job = job_create(kind="ping")
    job.task_name = job_ping.name
    job.save(update_fields=["task_name"])
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=MAX_ATTEMPTS,
        lease_owner="dead:1:x",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert jobs_fail_stale() == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert f"Gave up after {MAX_ATTEMPTS} attempts" in job.message


def test_a_queued_job_that_no_task_can_run_is_failed_after_the_stale_window(settings):
    job = job_create(kind="orphan")
    assert jobs_fail_stale() == 0
    assert jobs_fail_stale(now=_later(settings.CHORUS_JOB_STALE_AFTER.total_seconds() + 1)) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "No worker picked the job up" in job.message


def test_an_import_started_while_the_broker_is_down_runs_once_it_is_back(
    client, owner, broker, monkeypatch
):
    # A task type the worker process knows (the test-only one is registered in this one).
    humor = registry.get("humor")
    project = ProjectFactory(
        owner=owner, task_type="humor", config=humor.clean_config(humor.default_config())
    )
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    client.force_login(owner)
    rows = "".join(
        json.dumps({"id": f"r{i}", "text": f"post {i}", "reactions": {"haha": i}}) + "\n"
        for i in range(50)
    )
    with _app_broker(UNREACHABLE):
        response = client.post(
            reverse("dashboard:data", args=[project.slug]),
            {"file": SimpleUploadedFile("big.jsonl", rows.encode())},
        )
    assert response.status_code == 200
    job = Job.objects.get(kind="items_import")
    assert job.status == Job.Status.QUEUED and job.enqueued_at is None
    assert "Waiting for the task queue" in job.message
    assert job.task_name == "apps.dashboard.tasks.items_import_job"

    with celery_worker("default"):
        assert jobs_fail_stale() == 0  # just created: its first send may still be in flight
        assert jobs_fail_stale(now=_later()) == 1
        wait_for(lambda: Job.objects.get(pk=job.pk).is_done, timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.enqueued_at is not None and Item.objects.filter(project=project).count() == 50


def test_a_message_the_broker_lost_is_sent_again_after_the_stale_window(broker, settings):
    job = job_create(kind="ping")
    job_enqueue(job, job_ping)
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())  # sent, then lost
    assert jobs_fail_stale() == 0
    with celery_worker("default"):
        later = _later(settings.CHORUS_JOB_STALE_AFTER.total_seconds() + 1)
        assert jobs_fail_stale(now=later) == 1
        wait_for(lambda: Job.objects.get(pk=job.pk).is_done, timeout=60)
    assert Job.objects.get(pk=job.pk).status == Job.Status.SUCCEEDED


def test_a_training_start_and_a_settings_save_with_the_broker_down_keep_their_jobs(owner):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from tests.factories import ItemFactory

    humor = registry.get("humor")
    project = ProjectFactory(
        owner=owner, task_type="humor", config=humor.clean_config(humor.default_config())
    )
    ItemFactory(project=project, external_id="p1", payload={"text": "a post"})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    with _app_broker(UNREACHABLE):
        train = api.post(f"/api/projects/{project.slug}/models/train/", {}, format="json")
        saved = api.patch(
            f"/api/projects/{project.slug}/update/",
            {"config": {"k": project.config["k"] + 1}},
            format="json",
        )
    assert train.status_code == 202, train.content
    assert saved.status_code == 200, saved.content
    for job in Job.objects.filter(project=project):
        # Not orphaned: queued, never sent, with what the housekeeping task needs to send it.
        assert job.status == Job.Status.QUEUED and job.enqueued_at is None, job
        assert job.task_name and "Waiting for the task queue" in job.message
    assert {j.kind for j in Job.objects.filter(project=project)} == {"model_train", "humor_rescore"}
