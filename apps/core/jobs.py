"""Job state changes, shared by every Celery task that reports progress."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Job


def job_create(*, kind: str, project=None, params: dict | None = None, user=None) -> Job:
    return Job.objects.create(kind=kind, project=project, params=params or {}, created_by=user)


def job_enqueue(job: Job, task, *args) -> None:
    """Send ``task(job.pk, *args)`` once the surrounding transaction commits."""
    transaction.on_commit(lambda: task.delay(job.pk, *args))


def job_start(job: Job) -> None:
    job.status = Job.Status.RUNNING
    job.started_at = job.heartbeat_at = timezone.now()
    job.attempts += 1
    job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])


def job_progress(job: Job, progress: float, message: str = "") -> bool:
    """Record progress; returns False when the job was cancelled meanwhile (stop working)."""
    updated = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        progress=max(0.0, min(1.0, progress)), message=message[:2000], heartbeat_at=timezone.now()
    )
    return bool(updated)


def job_log(job: Job, line: str, keep: int = 4000) -> None:
    job.refresh_from_db(fields=["log_tail"])
    job.log_tail = (job.log_tail + line.rstrip() + "\n")[-keep:]
    job.save(update_fields=["log_tail"])


def job_finish(job: Job, *, result: dict | None = None, message: str = "") -> None:
    Job.objects.filter(pk=job.pk).exclude(status=Job.Status.CANCELLED).update(
        status=Job.Status.SUCCEEDED,
        progress=1.0,
        result=result or {},
        message=message[:2000],
        finished_at=timezone.now(),
    )


def job_fail(job: Job, message: str) -> None:
    Job.objects.filter(pk=job.pk).exclude(status=Job.Status.CANCELLED).update(
        status=Job.Status.FAILED, message=message[:2000], finished_at=timezone.now()
    )


def job_cancel(job: Job) -> None:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    )


def jobs_fail_stale(*, now=None) -> int:
    """Fail running jobs whose worker stopped reporting (killed, lost, out of memory).

    A message broker redelivers such a task only after its visibility timeout (hours on
    Redis), so without this the dashboard would show the job running all that while.
    """
    now = now or timezone.now()
    cutoff = now - settings.CHORUS_JOB_STALE_AFTER
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).update(
        status=Job.Status.FAILED,
        finished_at=now,
        message="The worker stopped reporting progress (it was killed or lost). "
        "Start the job again.",
    )
