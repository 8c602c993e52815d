from celery import shared_task

from . import engine
from .jobs import JobDone, job_task
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


@shared_task(name="apps.core.tasks.results_compute", acks_late=True)
def results_compute(project_id: int) -> None:
    """Compute and store a project's results (queue ``default``); safe to run twice."""
    from .models import Project
    from .results_cache import results_refresh, results_version

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    snapshot = getattr(project, "results_snapshot", None)
    if snapshot is not None and snapshot.version == results_version(project):
        return  # delivered twice, or a page computed it meanwhile
    results_refresh(project=project)


@shared_task(name="apps.core.tasks.hf_export", acks_late=True, reject_on_worker_lost=True)
@job_task
def hf_export(job: Job) -> JobDone | None:
    """Write a project's Hugging Face dataset (queue ``default``).

    Under the job's lease; a delivery after a killed worker continues from the Job's cursor.
    """
    from .hfdataset import hf_export_write

    return hf_export_write(job)


@shared_task(name="apps.core.tasks.item_advance", acks_late=True)
def item_advance(item_id: int) -> int:
    """Create the next stage's items of a completed item (queue ``default``); safe to rerun."""
    from .stages import item_advance as advance

    return len(advance(item_id=item_id))
