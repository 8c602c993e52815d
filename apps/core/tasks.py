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


@shared_task(name="apps.core.tasks.item_advance", acks_late=True)
def item_advance(item_id: int) -> int:
    """Create the next stage's items of a completed item (queue ``default``); safe to rerun."""
    from .stages import item_advance as advance

    return len(advance(item_id=item_id))
