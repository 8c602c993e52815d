"""Recomputing a humor project's scores after its settings changed, on the `default` queue."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from apps.core.jobs import job_fail, job_finish, job_start
from apps.core.models import Job


@shared_task(name="apps.humor.tasks.scores_recompute", acks_late=True)
def scores_recompute(job_id: int) -> None:
    from .services import scores_compute

    job = Job.objects.filter(pk=job_id).select_related("project").first()
    if job is None or job.is_done:
        return  # delivered twice: the first delivery did the work
    job_start(job)
    try:
        with transaction.atomic():
            meta = scores_compute(project=job.project, resample=job.params.get("resample", True))
    except Exception as exc:  # noqa: BLE001 — the researcher sees why on the dashboard
        job_fail(job, f"Recomputing the scores failed: {exc}")
        raise
    job_finish(
        job,
        result={k: meta[k] for k in ("posts", "humorous", "non_humorous")},
        message=f"{meta['humorous']} humorous / {meta['non_humorous']} non-humorous "
        f"posts labelled with {meta['ns_version']}.",
    )
