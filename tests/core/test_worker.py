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
