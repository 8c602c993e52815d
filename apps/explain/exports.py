"""The explain exports: one record per answer, and the automatic metrics per normalisation."""

from __future__ import annotations

from collections.abc import Iterator

from apps.core.models import Project
from apps.core.registry import RecordSet

from . import selectors, stats
from .results import automatic_table
from .schemas import config_of

ANSWER_COLUMNS = [
    "annotation_id",
    "participant",
    "image_id",
    "class_name",
    "design",
    "normalisation",
    "normalisation_b",
    "answer",
    "preferred",
    "score",
    "box",
    "box_iou",
    "words",
    "attribute",
    "correct",
    "simulated",
    "blocked",
    "timestamp",
]
AUTOMATIC_COLUMNS = ["normalisation", "images", "max_box_acc", "max_box_acc_v2", "pxap"]


def answer_records(project: Project) -> Iterator[dict]:
    design = config_of(project).design
    for a in selectors.answers(project):
        pair = len(a.normalisations) == 2
        box = [a.value[k] for k in ("x0", "y0", "x1", "y1")] if "x0" in a.value else None
        yield {
            "annotation_id": a.annotation,
            "participant": f"p{a.participant}",
            "image_id": a.image_id,
            "class_name": a.class_name,
            "design": "rationale" if a.is_text else ("describe" if "text" in a.value else design),
            "normalisation": a.normalisations[0] or None,
            "normalisation_b": a.normalisations[1] if pair else None,
            "answer": (
                a.value.get("choice", a.value.get("text", a.value.get("score")))
                if box is None
                else None
            ),
            "preferred": (stats.winner(a) or "same") if pair else None,
            "score": a.value.get("score"),
            "box": box,
            "box_iou": round(stats.human_box_iou(a), 4) if box is not None else None,
            "words": a.value.get("words"),
            "attribute": a.attribute or None,
            "correct": a.value.get("correct"),
            "simulated": a.simulated,
            "blocked": a.blocked,
            "timestamp": a.created_at.isoformat(),
        }


def automatic_records(project: Project) -> Iterator[dict]:
    images = len(selectors.image_scores(project))
    for method, row in automatic_table(project).items():
        yield {
            "normalisation": method,
            "images": images,
            **{k: None if v is None else round(v, 4) for k, v in row.items()},
        }


RECORD_SETS = [
    RecordSet(
        key="answers",
        title="Answers",
        description="One row per answer: the image, the normalisation(s) shown and the answer "
        "(pairwise: the side chosen and the normalisation preferred; a drawn box with its IoU "
        "with the ground truth; a rationale's words; a counterfactual pair's attribute, the "
        "side or description given and whether it named the attribute).",
        columns=ANSWER_COLUMNS,
        records=answer_records,
    ),
    RecordSet(
        key="automatic",
        title="Automatic metrics per normalisation",
        description="MaxBoxAcc, MaxBoxAccV2 and PxAP (percent) of the maps under MinMax, Max, "
        "PaS and IVR, as wsolevaluation computes them.",
        columns=AUTOMATIC_COLUMNS,
        records=automatic_records,
    ),
]
