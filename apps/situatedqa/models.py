"""The one table SituatedQA needs beyond Item and Annotation: imported official contexts.

An official ``qa_data`` row is a finished (context, answer) pair: nobody is asked about it
again, so it is no Item (an item is work the engine serves). It is kept as found — its
values and their types, mojibake included — and written back by the qa_data export.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class FinishedContext(models.Model):
    class Variant(models.TextChoices):
        TEMP = "temp", "Temporal"  # qa_data/temp.*: a date, a date_type
        GEO = "geo", "Geographic"  # qa_data/geo.*: a location

    project = models.ForeignKey(
        "core.Project", on_delete=models.CASCADE, related_name="situatedqa_contexts"
    )
    variant = models.CharField(max_length=4, choices=Variant.choices)
    # The row exactly as parsed (PostgreSQL's jsonb drops key order; the export restores it
    # with formats.official_order). ``question_id`` repeats row["id"] for lookups.
    row = models.JSONField()
    question_id = models.CharField(max_length=100)
    # SHA-1 of the row's canonical JSON: the same row imported twice is refused.
    digest = models.CharField(max_length=40)
    source = models.CharField(max_length=200, blank=True)
    line = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "variant", "digest"], name="situatedqa_context_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "variant", "question_id"], name="situatedqa_ctx_q"),
        ]

    def __str__(self) -> str:
        return f"{self.variant}:{self.question_id} {self.row.get('edited_question', '')[:40]}"


class Evaluation(models.Model):
    """The last predictions file a researcher scored for one variant of a project.

    Kept so the Results page can put the model's exact match next to the crowd's on the same
    questions: ``predictions`` maps each predicted gold row's key (id and edited_question,
    ``evaluation.row_key``) to the uploaded ``pred_answer``; ``cells`` the scores
    ``[[name, correct, total], …]`` in the paper's order (a list: jsonb keeps no key order), against every final row at upload
    time. A new upload of the same variant replaces it.
    """

    project = models.ForeignKey(
        "core.Project", on_delete=models.CASCADE, related_name="situatedqa_evaluations"
    )
    variant = models.CharField(max_length=4, choices=FinishedContext.Variant.choices)
    filename = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cells = models.JSONField()
    predictions = models.JSONField()
    missing = models.JSONField(default=list)  # gold rows without a prediction: line, id, question
    unknown = models.JSONField(default=list)  # prediction lines matching no gold row, with why
    # ``missing`` and ``unknown`` list the first few; these count them all.
    missing_count = models.PositiveIntegerField(default=0)
    unknown_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "variant"], name="situatedqa_evaluation_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant}: {self.filename}"
