"""Job state changes, shared by every Celery task that reports progress.

A task that works on a Job is written as ``@shared_task(...)`` over ``@job_task``: the wrapper
loads the Job, takes its lease (one execution at a time), starts it, renews the lease from a
heartbeat thread while the function runs, fails the Job with the error's message, and finishes
it. Sending goes through :func:`job_enqueue`, which records the task on the Job so the
housekeeping task (:func:`jobs_fail_stale`) can send it again when the broker was down, lost
the message, or the worker died.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Job

logger = logging.getLogger(__name__)

# A job whose worker died this many times is failed instead of being tried again.
MAX_ATTEMPTS = 3
# A message sent this recently may still be in flight (on_commit has not run yet).
SEND_GRACE_S = 30

# The lease held by the job this thread is running (set by job_task), so that progress and
# finish calls from inside the task only count while this execution still owns the job.
_lease_owner: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chorus_job_lease_owner", default=None
)


class JobFailed(Exception):
    """Raised inside a ``@job_task`` function: the Job fails with this message, nothing else."""


@dataclass
class JobDone:
    """What a ``@job_task`` function may return: the Job's result and its closing message."""

    result: dict = field(default_factory=dict)
    message: str = ""


def job_create(*, kind: str, project=None, params: dict | None = None, user=None) -> Job:
    return Job.objects.create(kind=kind, project=project, params=params or {}, created_by=user)


def job_enqueue(job: Job, task, *args) -> None:
    """Send ``task(job.pk, *args)`` once the surrounding transaction commits.

    The task is recorded on the Job first, in the same transaction: if the broker cannot be
    reached at commit, the Job stays queued and the housekeeping task sends it later, so a
    Job is never left waiting for a message that does not exist.
    """
    job.task_name, job.task_args = task.name, list(args)
    job.save(update_fields=["task_name", "task_args"])
    transaction.on_commit(lambda: job_send(job.pk, task=task, args=list(args)))


def job_send(job_id: int, *, task=None, name: str = "", args: list | None = None) -> bool:
    """Put the Job's message on the broker now; False (and logged) when the broker is down."""
    from config.celery import app

    args = list(args or [])
    try:
        if task is not None:
            task.delay(job_id, *args)
        else:
            app.send_task(name, args=[job_id, *args])
    except Exception as exc:  # kombu's OperationalError, redis' ConnectionError, OSError …
        logger.warning("Job %s not sent to the broker (%s); it is retried later.", job_id, exc)
        Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            message="Waiting for the task queue to come back; the job starts then."
        )
        return False
    Job.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
    return True


def job_start(job: Job) -> None:
    job.status = Job.Status.RUNNING
    job.started_at = job.heartbeat_at = timezone.now()
    job.attempts += 1
    job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])


def _mine(queryset):
    """Narrow ``queryset`` to the job as long as this execution holds its lease."""
    owner = _lease_owner.get()
    return queryset.filter(lease_owner=owner) if owner else queryset


def job_progress(job: Job, progress: float, message: str = "") -> bool:
    """Record progress; False when the job was cancelled or taken over meanwhile (stop working)."""
    now = timezone.now()
    fields = {
        "progress": max(0.0, min(1.0, progress)),
        "message": message[:2000],
        "heartbeat_at": now,
    }
    if _lease_owner.get():
        fields["lease_expires_at"] = now + settings.CHORUS_JOB_LEASE
    updated = _mine(Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING)).update(**fields)
    return bool(updated)


def job_log(job: Job, line: str, keep: int = 4000) -> None:
    job.refresh_from_db(fields=["log_tail"])
    job.log_tail = (job.log_tail + line.rstrip() + "\n")[-keep:]
    job.save(update_fields=["log_tail"])


# Only an unfinished job changes state: a cancelled, failed or succeeded one stays as it is.
_OPEN = (Job.Status.QUEUED, Job.Status.RUNNING)


def job_finish(job: Job, *, result: dict | None = None, message: str = "") -> None:
    _mine(Job.objects.filter(pk=job.pk, status__in=_OPEN)).update(
        status=Job.Status.SUCCEEDED,
        progress=1.0,
        result=result or {},
        message=message[:2000],
        finished_at=timezone.now(),
    )


def job_fail(job: Job, message: str) -> None:
    _mine(Job.objects.filter(pk=job.pk, status__in=_OPEN)).update(
        status=Job.Status.FAILED, message=message[:2000], finished_at=timezone.now()
    )


def job_cancel(job: Job) -> None:
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    )


def job_claim(job_id: int, *, max_attempts: int = MAX_ATTEMPTS) -> Job | None:
    """Take the Job's lease and start it; None when there is nothing for this delivery to do.

    Nothing to do: the Job is gone or done (an earlier delivery finished it), or another
    execution holds a lease that has not run out (the broker redelivered a running task).
    The claim is one conditional UPDATE, so two deliveries racing for it cannot both win.
    """
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_done:
        return None
    now = timezone.now()
    if job.lease_owner and job.lease_expires_at and job.lease_expires_at > now:
        logger.warning("Job %s is running elsewhere (%s); this delivery does nothing.", job_id, job)
        return None
    if job.attempts >= max_attempts:
        job_fail(job, f"Gave up after {job.attempts} attempts: the worker was lost each time.")
        return None
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    claimed = (
        Job.objects.filter(pk=job_id, status__in=[Job.Status.QUEUED, Job.Status.RUNNING])
        .exclude(lease_expires_at__gt=now)
        .update(
            status=Job.Status.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + settings.CHORUS_JOB_LEASE,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return None
    return Job.objects.select_related("project").get(pk=job_id)


class _Heartbeat(threading.Thread):
    """Renews the lease while the task runs; stops once the job is no longer this one's."""

    def __init__(self, job_id: int, owner: str):
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.job_id, self.owner = job_id, owner
        self.stopped = threading.Event()

    def run(self) -> None:
        every = max(settings.CHORUS_JOB_LEASE.total_seconds() / 4, 0.2)
        try:
            while not self.stopped.wait(every):
                now = timezone.now()
                try:
                    held = Job.objects.filter(
                        pk=self.job_id, lease_owner=self.owner, status=Job.Status.RUNNING
                    ).update(lease_expires_at=now + settings.CHORUS_JOB_LEASE, heartbeat_at=now)
                except DatabaseError as exc:  # SQLite busy behind the task's own transaction
                    logger.warning("Job %s heartbeat skipped: %s", self.job_id, exc)
                    continue
                if not held:
                    return
        finally:
            connections.close_all()  # this thread's own connections only


def job_task(fn: Callable | None = None, *, max_attempts: int = MAX_ATTEMPTS):
    """Run ``fn(job, *args)`` for a task sent as ``task(job_id, *args)``, at most once at a time.

    ``fn`` returns a :class:`JobDone`, a result dict or None (the Job succeeds with it), may
    call :func:`job_finish`/:func:`job_fail` itself, raises :class:`JobFailed` to fail with a
    message, and any other exception fails the Job with its type and text (logged with its
    traceback). A cancelled Job stays cancelled. Put it under ``@shared_task``.
    """

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(job_id: int, *args, **kwargs):
            job = job_claim(job_id, max_attempts=max_attempts)
            if job is None:
                return None
            token = _lease_owner.set(job.lease_owner)
            beat = _Heartbeat(job.pk, job.lease_owner)
            beat.start()
            try:
                outcome = fn(job, *args, **kwargs)
            except JobFailed as exc:
                job_fail(job, str(exc))
            except Exception as exc:
                logger.exception("Job %s (%s) crashed", job.pk, job.kind)
                job_fail(job, f"{type(exc).__name__}: {exc}")
            else:
                if isinstance(outcome, JobDone):
                    job_finish(job, result=outcome.result, message=outcome.message)
                else:
                    job_finish(job, result=outcome if isinstance(outcome, dict) else None)
            finally:
                beat.stopped.set()
                beat.join(timeout=5)
                _lease_owner.reset(token)
                Job.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(
                    lease_owner="", lease_expires_at=None
                )
            return None

        return run

    return decorate(fn) if fn is not None else decorate


def jobs_fail_stale(*, now=None) -> int:
    """Housekeeping (every minute from beat): send, retry or fail Jobs nobody is working on.

    - running, lease run out (its worker was killed or lost): queued and sent again, until
      ``MAX_ATTEMPTS`` attempts; a running job without a lease (started outside
      ``job_task``) is failed once its heartbeat is older than the stale window;
    - queued, never reached the broker (it was down at commit): sent now;
    - queued, sent longer ago than the stale window and still not started (the broker lost
      the message): sent again; a second copy is harmless, the lease lets one run;
    - queued past ``CHORUS_JOB_QUEUED_MAX``, or queued with no task to send: failed.

    A broker redelivers a lost task only after its visibility timeout (hours on Redis), so
    without this the dashboard would show such jobs running or queued all that while.
    Returns how many jobs were changed.
    """
    now = now or timezone.now()
    stale = now - settings.CHORUS_JOB_STALE_AFTER
    changed = 0
    resend: list[Job] = []

    running = Job.objects.filter(status=Job.Status.RUNNING)
    for job in running.filter(lease_expires_at__lt=now):
        if not job.task_name or job.attempts >= MAX_ATTEMPTS:
            reason = (
                f"Gave up after {job.attempts} attempts: the worker was lost each time."
                if job.task_name
                else "The worker stopped reporting progress (it was killed or lost). "
                "Start the job again."
            )
            changed += Job.objects.filter(
                pk=job.pk, status=Job.Status.RUNNING, lease_expires_at=job.lease_expires_at
            ).update(status=Job.Status.FAILED, finished_at=now, message=reason)
            continue
        requeued = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, lease_expires_at=job.lease_expires_at
        ).update(
            status=Job.Status.QUEUED,
            lease_owner="",
            lease_expires_at=None,
            message=f"The worker was lost; trying again (attempt {job.attempts + 1} "
            f"of {MAX_ATTEMPTS}).",
        )
        if requeued:
            changed += 1
            resend.append(job)
    changed += running.filter(
        Q(lease_expires_at__isnull=True) & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at=None))
    ).update(
        status=Job.Status.FAILED,
        finished_at=now,
        message="The worker stopped reporting progress (it was killed or lost). "
        "Start the job again.",
    )

    queued = Job.objects.filter(status=Job.Status.QUEUED)
    changed += queued.filter(
        Q(created_at__lt=now - settings.CHORUS_JOB_QUEUED_MAX)
        | (Q(task_name="") & Q(created_at__lt=stale))
    ).update(
        status=Job.Status.FAILED,
        finished_at=now,
        message="No worker picked the job up; check that a Celery worker runs for its queue, "
        "then start it again.",
    )
    grace = now - timedelta(seconds=SEND_GRACE_S)
    lost = list(
        queued.exclude(task_name="")
        .exclude(pk__in=[j.pk for j in resend])
        .filter((Q(enqueued_at__isnull=True) & Q(created_at__lt=grace)) | Q(enqueued_at__lt=stale))
    )
    for job in resend + lost:
        job_send(job.pk, name=job.task_name, args=job.task_args)
    return changed + len(lost)
