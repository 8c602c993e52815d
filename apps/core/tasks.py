from celery import shared_task

from . import engine
from .jobs import job_task
from .models import Job


@shared_task(name="apps.core.tasks.reservations_expire")
def reservations_expire() -> int:
    return engine.reservations_expire()


@shared_task(name="apps.core.tasks.jobs_fail_stale")
def jobs_fail_stale() -> int:
    from .jobs import jobs_fail_stale as fail_stale

    return fail_stale()


@shared_task(name="apps.core.tasks.sessions_clear")
def sessions_clear() -> None:
    """Delete expired rows of the database sessions (Django never does it by itself)."""
    from django.core.management import call_command

    call_command("clearsessions")


@shared_task(name="apps.core.tasks.job_ping", acks_late=True)
@job_task
def job_ping(job: Job) -> dict:
    """A health check through the broker: the worker marks the Job succeeded."""
    return {"pong": True}
