"""A Celery task runs on a real worker process through the Redis broker."""

from __future__ import annotations

import pytest

from apps.core.jobs import job_create
from apps.core.models import Job
from apps.core.tasks import job_ping
from tests.worker import celery_worker, send, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_task_runs_on_a_real_worker_through_redis():
    job = job_create(kind="ping")
    with celery_worker("default"):
        send(job_ping, job.pk)
        wait_for(lambda: Job.objects.get(pk=job.pk).is_done, timeout=60)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"pong": True}
    assert job.attempts == 1 and job.started_at is not None


def test_a_running_job_whose_worker_went_silent_is_failed_with_a_reason(settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.jobs import job_progress, job_start, jobs_fail_stale

    silent, alive = job_create(kind="train"), job_create(kind="train")
    job_start(silent)
    job_start(alive)
    later = timezone.now() + settings.CHORUS_JOB_STALE_AFTER + timedelta(minutes=1)
    Job.objects.filter(pk=alive.pk).update(heartbeat_at=later)
    assert job_progress(alive, 0.5)  # still reporting
    Job.objects.filter(pk=alive.pk).update(heartbeat_at=later)
    assert jobs_fail_stale(now=later) == 1
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == Job.Status.FAILED and "stopped reporting" in silent.message
    assert alive.status == Job.Status.RUNNING
