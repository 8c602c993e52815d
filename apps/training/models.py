"""The model loop's tables: trained ModelVersions, their Predictions, and per-project settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import Item, Job, Project


class ModelVersion(models.Model):
    """A trained model, registered only once its artifact and predictions are stored.

    Reproducible from its row: trainer, config (with the seed), code version, data snapshot,
    and an artifact directory whose checkpoint carries its own config.
    """

    class Status(models.TextChoices):
        READY = "ready", "Ready"  # artifact written, predictions stored; can be made active
        ARCHIVED = "archived", "Archived"  # kept for the record, hidden from the active choice

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3… within the project.")
    trainer = models.CharField(max_length=40, help_text="Key of the trainer registry.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    job = models.OneToOneField(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="model_version"
    )
    config = models.JSONField(default=dict)
    seed = models.BigIntegerField()
    code_version = models.CharField(max_length=80)
    data_snapshot = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    artifact = models.CharField(max_length=300, help_text="Folder in Django's default storage.")
    device = models.CharField(max_length=80, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="modelversion_number"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id} v{self.number}"


class Prediction(models.Model):
    """One model's output on one item: its answer (any JSON) and how unsure it is.

    Generic on purpose: a classifier, a MOS regressor and a trajectory model all store their
    output in ``value`` and one ``uncertainty`` (higher = less sure, the trainer's scale).
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="predictions")
    value = models.JSONField(help_text="In the task type's answer shape, plus model fields.")
    uncertainty = models.FloatField(help_text="Higher is less sure (the trainer's scale).")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "item"], name="prediction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}:{self.item_id}"


class ModelLoopSettings(models.Model):
    """How a project uses its models: which version is active, pre-fill, active learning."""

    # Active learning off: the model gives no item priorities. Other modes are declared by
    # the project's trainer (``Trainer.active_learning``) and checked by the service.
    ACTIVE_LEARNING_OFF = "off"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="model_loop")
    active_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Off by default: a shown model answer anchors annotators (they agree with it too often).
    prefill = models.BooleanField(default=False)
    active_learning = models.CharField(max_length=40, default=ACTIVE_LEARNING_OFF)

    def __str__(self) -> str:
        return f"model loop of {self.project_id}"
