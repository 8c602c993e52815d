"""Celery tasks of the model loop; routed to the ``gpu`` queue by settings.CELERY_TASK_ROUTES."""

from __future__ import annotations

from celery import shared_task

from apps.core.jobs import job_task
from apps.core.models import Job

from . import services


@shared_task(name="apps.training.tasks.model_train", acks_late=True, reject_on_worker_lost=True)
@job_task(max_attempts=services.MAX_ATTEMPTS)
def model_train(job: Job) -> None:
    """Train a model for the job's project; safe to deliver twice (see services.training_run)."""
    services.training_run(job=job)


@shared_task(name="apps.training.tasks.model_predict", acks_late=True, reject_on_worker_lost=True)
@job_task(max_attempts=services.MAX_ATTEMPTS)
def model_predict(job: Job) -> None:
    """Batch-predict a version on items it has not seen; safe to deliver twice."""
    services.prediction_run(job=job)


@shared_task(name="apps.training.tasks.model_priorities_apply", acks_late=True)
def model_priorities_apply(project_id: int) -> None:
    """Re-apply the active model's item priorities (sent to the ``default`` queue: no GPU).

    Idempotent: it recomputes from the current settings, so a repeat changes nothing.
    """
    from apps.core.models import Project

    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        services.priorities_apply(project=project)
