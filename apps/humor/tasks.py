"""Recomputing a humor project's scores after its settings changed, on the `default` queue."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from apps.core.jobs import JobDone, JobFailed, job_task
from apps.core.models import Job


@shared_task(name="apps.humor.tasks.scores_recompute", acks_late=True)
@job_task
def scores_recompute(job: Job) -> JobDone:
    from .services import scores_compute

    try:
        with transaction.atomic():
            meta = scores_compute(project=job.project, resample=job.params.get("resample", True))
    except Exception as exc:  # the researcher sees why on the dashboard
        raise JobFailed(f"Recomputing the scores failed: {exc}") from exc
    return JobDone(
        result={k: meta[k] for k in ("posts", "humorous", "non_humorous")},
        message=f"{meta['humorous']} humorous / {meta['non_humorous']} non-humorous "
        f"posts labelled with {meta['ns_version']}.",
    )
