"""The model loop's tables: trained ModelVersions, their Predictions, and per-project settings."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
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
    """One model's output on one item: the answer it would give, and how unsure it is."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="predictions"
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="predictions")
    value = models.JSONField(help_text="In the task type's answer shape, plus model fields.")
    score = models.FloatField(null=True, blank=True, help_text="P(positive class), if any.")
    uncertainty = models.FloatField(help_text="Entropy in bits, 0 (sure) … 1 (coin flip).")
    margin = models.FloatField(help_text="1 − (p_top − p_second): higher is less sure.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "item"], name="prediction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version_id}:{self.item_id}"


class ModelLoopSettings(models.Model):
    """How a project uses its models: which version is active, pre-fill, active learning."""

    class ActiveLearning(models.TextChoices):
        OFF = "off", "Off"  # item priorities are left alone
        ENTROPY = "entropy", "Uncertainty (entropy)"  # most uncertain items first
        MARGIN = "margin", "Uncertainty (margin)"  # smallest top-two margin first
        DISAGREEMENT = "disagreement", "Disagreement with reaction label"  # model ≠ reactions first

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="model_loop")
    active_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Off by default: a shown model answer anchors annotators (they agree with it too often).
    prefill = models.BooleanField(default=False)
    active_learning = models.CharField(
        max_length=14, choices=ActiveLearning.choices, default=ActiveLearning.OFF
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(active_learning__in=["off", "entropy", "margin", "disagreement"]),
                name="modelloop_active_learning_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"model loop of {self.project_id}"
