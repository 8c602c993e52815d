"""The one table SituatedQA needs beyond Item and Annotation: imported official contexts.

An official ``qa_data`` row is a finished (context, answer) pair: nobody is asked about it
again, so it is no Item (an item is work the engine serves). It is kept as found — its
values and their types, mojibake included — and written back by the qa_data export.
"""

from __future__ import annotations

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
