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


def metric_columns(trainer, versions: list[ModelVersion]) -> list[tuple[str, str]]:
    """The trainer's declared metrics that some version has: (key, label), in its order."""
    seen = {k for v in versions for k in v.metrics}
    declared = trainer.metrics if trainer is not None else []
    return [(key, label) for key, label in declared if key in seen]


def config_columns(trainer) -> list[tuple[str, str]]:
    """The config fields the trainer shows per version: (name, label)."""
    if trainer is None:
        return []
    labels = {spec.name: spec.label for spec in trainer.Config.fields_spec()}
    return [(name, labels.get(name, name)) for name in trainer.summary_fields]


def regular_item_count(project: Project) -> int:
    return Item.objects.filter(project=project, kind=Item.Kind.REGULAR).count()
