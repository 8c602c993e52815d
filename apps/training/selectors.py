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


def metric_legend(trainer, columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, help) for the shown metric columns the trainer explains, in column order."""
    helps = getattr(trainer, "metric_help", {}) if trainer is not None else {}
    return [(label, helps[key]) for key, label in columns if key in helps]


def config_columns(trainer) -> list[tuple[str, str]]:
    """The config fields the trainer shows per version: (name, label)."""
    if trainer is None:
        return []
    labels = {spec.name: spec.label for spec in trainer.Config.fields_spec()}
    return [(name, labels.get(name, name)) for name in trainer.summary_fields]


def regular_item_count(project: Project) -> int:
    return Item.objects.filter(project=project, kind=Item.Kind.REGULAR).count()


# Below these counts a version's metrics say little: F1 on three test posts is 0, 0.5 or 1.
TOO_FEW_TRAIN = 20
TOO_FEW_TEST = 10


def modelversion_data_warning(version: ModelVersion) -> str:
    """Why the version's metrics cannot be trusted for lack of data, or "" when they can.

    Every trainer reports ``n_train`` and ``n_test`` (the items it trained and was scored on);
    a version without them gets no warning rather than a wrong one.
    """
    n_train, n_test = version.metrics.get("n_train"), version.metrics.get("n_test")
    problems = []
    if isinstance(n_train, int) and n_train < TOO_FEW_TRAIN:
        problems.append(f"trained on {n_train} labelled item{'s' if n_train != 1 else ''}")
    if isinstance(n_test, int) and n_test < TOO_FEW_TEST:
        problems.append(f"scored on {n_test} test item{'s' if n_test != 1 else ''}")
    if not problems:
        return ""
    return (
        f"Too little data: {' and '.join(problems)} (at least {TOO_FEW_TRAIN} and "
        f"{TOO_FEW_TEST} are needed for its metrics to mean much). Label more items and train "
        "again."
    )
