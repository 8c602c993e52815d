"""Scoring an uploaded predictions file, and the model against the crowd on the same questions.

A researcher uploads the dataset's qa_data rows of one variant with a ``pred_answer`` each.
They are matched to the project's **final rows** — what the qa_data export writes: the
imported official rows, then the rows the crowd's validated answers make — and scored with
the paper's exact match (``ml.situatedqa.evaluate``, SQuAD normalisation, the paper's
breakdowns). A gold row without a prediction counts as wrong and is named; a prediction
that names no gold row is named too and counts nowhere. A malformed file is refused whole,
naming its lines, and nothing is stored.

The last evaluation of each variant is kept (``models.Evaluation``) so the Results page can
score the model and the crowd on the same official rows (:func:`model_vs_crowd`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import transaction

from apps.core.models import Project
from apps.core.results_cache import results_invalidate
from apps.core.uploads import upload_problem
from ml.situatedqa import evaluate, formats

from . import exports
from .models import Evaluation

EXTENSIONS = (".jsonl", ".ndjson")
LISTED = 50  # missing / unknown rows kept with an evaluation (the counts are all kept)


class EvaluationRefused(ValueError):
    """The upload was not scored; the message says why (naming lines), nothing was stored."""


@dataclass
class EvaluationOutcome:
    evaluation: Evaluation
    cells: dict[str, evaluate.Score]
    missing: list[evaluate.Unmatched] = field(default_factory=list)
    unknown: list[evaluate.Unmatched] = field(default_factory=list)


def row_key(row: Mapping[str, Any]) -> str:
    """A question-in-context's key in a stored evaluation: its id and edited_question (what
    the Results page's crowd rows are matched on, too; a text repeated under two date types
    keeps its first prediction)."""
    return f"{row['id']}\x1f{row['edited_question']}"


def cells_of(stored: Sequence[Sequence[Any]]) -> dict[str, evaluate.Score]:
    """A stored evaluation's ``[[name, correct, total], …]`` as scores, in the paper's order."""
    return {name: evaluate.Score(k, n) for name, k, n in stored}


def _unmatched(rows: Sequence[evaluate.Unmatched]) -> list[dict]:
    return [
        {"line": u.line, "id": u.id, "edited_question": u.edited_question, "reason": u.reason}
        for u in rows[:LISTED]
    ]


def evaluation_upload(
    *, project: Project, variant: str, upload: IO[bytes], name: str, user
) -> EvaluationOutcome:
    """Score ``upload`` against the project's final ``variant`` rows and keep it as the last.

    Raises ``EvaluationRefused`` (storing nothing) for a file of the wrong type or size, a
    malformed line, or a project with no final rows of the variant.
    """
    if variant not in formats.VARIANTS:
        raise EvaluationRefused(f'Unknown variant {variant!r}: choose "temp" or "geo".')
    size = getattr(upload, "size", None)
    problem = upload_problem(name=name, size=size)
    if problem is None and not name.lower().endswith(EXTENSIONS):
        problem = f"{name}: upload the predictions as JSON lines (.jsonl), one row a line."
    if problem:
        raise EvaluationRefused(problem)
    gold = list(exports.qa_records(project, variant=variant))
    if not gold:
        raise EvaluationRefused(
            "This project has no final rows of this variant to score against yet: import the "
            "official qa_data, or finish some questions through the three stages."
        )
    try:
        matched = evaluate.read_predictions(upload.read(), variant=variant, gold=gold)  # type: ignore[arg-type]
    except formats.FormatError as exc:
        raise EvaluationRefused(f"{name}: {exc}") from None
    cells = evaluate.report(matched.rows, variant=variant)  # type: ignore[arg-type]
    predictions: dict[str, str] = {}
    for row in matched.rows:
        if row["pred_answer"] is not None:
            predictions.setdefault(row_key(row), row["pred_answer"])
    with transaction.atomic():
        evaluation, _ = Evaluation.objects.update_or_create(
            project=project,
            variant=variant,
            defaults={
                "filename": name[:200],
                "uploaded_by": user,
                "cells": [[k, s.correct, s.total] for k, s in cells.items()],
                "predictions": predictions,
                "missing": _unmatched(matched.missing),
                "unknown": _unmatched(matched.unknown),
                "missing_count": len(matched.missing),
                "unknown_count": len(matched.unknown),
            },
        )
        # The results fingerprint sees answers and settings, not this table.
        transaction.on_commit(lambda: results_invalidate(project=project))
    return EvaluationOutcome(evaluation, cells, matched.missing, matched.unknown)


def last_evaluations(project: Project) -> dict[str, Evaluation]:
    return {e.variant: e for e in Evaluation.objects.filter(project=project)}


@dataclass(frozen=True)
class Comparison:
    """The model's and the crowd's exact match on the official rows both answered."""

    model: dict[str, evaluate.Score]
    crowd: dict[str, evaluate.Score]
    rows: int


def model_vs_crowd(
    evaluation: Evaluation, crowd_rows: Sequence[Mapping[str, Any]]
) -> Comparison | None:
    """Score both on the rows of ``crowd_rows`` (official rows carrying the crowd's
    ``pred_answer``) that the evaluation predicted; None when there is no such row."""
    variant = evaluation.variant
    predicted: dict[str, str] = evaluation.predictions
    both = [row for row in crowd_rows if row_key(row) in predicted]
    if not both:
        return None
    model_rows = [{**row, "pred_answer": predicted[row_key(row)]} for row in both]
    return Comparison(
        model=evaluate.report(model_rows, variant=variant),  # type: ignore[arg-type]
        crowd=evaluate.report(both, variant=variant),  # type: ignore[arg-type]
        rows=len(both),
    )
