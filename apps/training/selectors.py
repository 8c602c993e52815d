"""Reads for the model loop; they own their select_related."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from apps.core.models import Item, Job, Project

from .models import ModelLoopSettings, ModelVersion, Prediction

TRAIN_JOB_KIND = "model_train"
PREDICT_JOB_KIND = "model_predict"


def modelloop_settings_for(project: Project) -> ModelLoopSettings:
    """The project's settings row, or unsaved defaults when none was stored yet."""
    found = (
        ModelLoopSettings.objects.filter(project=project).select_related("active_version").first()
    )
    return found or ModelLoopSettings(project=project)


def modelversions_for(project: Project) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.filter(project=project)
        .select_related("job", "created_by")
        .annotate(n_predictions=Count("predictions"))
        .order_by("-number")  # Meta.ordering does not apply to GROUP BY queries
    )


def modelversion_for(project: Project, pk: int) -> ModelVersion:
    version = ModelVersion.objects.filter(project=project, pk=pk).first()
    if version is None:
        raise Http404("No such model version in this project.")
    return version


def training_jobs_for(project: Project, limit: int = 10) -> list[Job]:
    return list(
        Job.objects.filter(
            project=project, kind__in=[TRAIN_JOB_KIND, PREDICT_JOB_KIND]
        ).select_related("project")[:limit]
    )


def job_for(project: Project, pk: int) -> Job:
    """Any job of ``project`` (training, import, export…); 404 for another project's job."""
    job = Job.objects.filter(project=project, pk=pk).select_related("project").first()
    if job is None:
        raise Http404("No such job in this project.")
    return job


def predictions_for(version: ModelVersion) -> QuerySet[Prediction]:
    return Prediction.objects.filter(model_version=version).select_related("item")


def metric_columns(versions: list[ModelVersion]) -> list[str]:
    """Metric names across versions, the CHoRaL ones first, for a side-by-side table."""
    first = ["f1", "auc", "accuracy", "n_train", "n_test", "pearson_r", "mse"]
    seen = {k for v in versions for k, val in v.metrics.items() if not isinstance(val, dict)}
    return [k for k in first if k in seen] + sorted(seen - set(first))


def regular_item_count(project: Project) -> int:
    return Item.objects.filter(project=project, kind=Item.Kind.REGULAR).count()
