from celery import shared_task

from . import engine
from .models import Job


@shared_task(name="apps.core.tasks.reservations_expire")
def reservations_expire() -> int:
    return engine.reservations_expire()


@shared_task(name="apps.core.tasks.jobs_fail_stale")
def jobs_fail_stale() -> int:
    from .jobs import jobs_fail_stale as fail_stale

    return fail_stale()


@shared_task(name="apps.core.tasks.job_ping", acks_late=True)
def job_ping(job_id: int) -> None:
    """A health check through the broker: the worker marks the Job succeeded."""
    from .jobs import job_finish, job_start

    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return
    job_start(job)
    job_finish(job, result={"pong": True})
