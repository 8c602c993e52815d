"""The CoPhy exports: one record per scene (a summary of its states, the hidden confounders,
the intervention) and one per answer, scored. The scenes themselves, as example folders in
the official layout, are a zip download of their own (``views.scenes_zip``).

Participants appear by their Chorus number, never by a Prolific or MTurk id.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from apps.core.models import Project
from apps.core.registry import RecordSet
from ml.cophy.layout import CONFOUNDERS, describe_intervention, intervention
from ml.cophy.metrics import tower_falls, will_move

from . import scoring, selectors
from .schemas import NOTHING

SCENE_COLUMNS = [
    "example_id",
    "scenario",
    "n_objects",
    "gold",
    "T",
    "K",
    "objects",
    "objects_cd",
    "confounder_names",
    "confounders",
    "gravity",
    "intervention",
    "intervention_object",
    "intervention_delta",
    "explanation",
    "moves_ab",
    "moves_cd",
    "falls_ab",
    "falls_cd",
    "final_positions_cd",
    "marked_object",
    "first_contact",
]
ANSWER_COLUMNS = [
    "annotation_id",
    "participant",
    "example_id",
    "scenario",
    "condition",
    "gold",
    "response_per_object",
    "falls",
    "click_x",
    "click_y",
    "first_contact",
    "blocks_right",
    "blocks_asked",
    "falls_right",
    "position_error",
    "first_contact_right",
    "rt_ms",
    "simulated",
    "blocked",
    "timestamp",
]


def _colors(example, present: np.ndarray) -> list[str]:
    return [example.slot_color(int(k)) for k in np.flatnonzero(present > 0)]


def scene_records(project: Project) -> Iterator[dict]:
    for scene in selectors.scenes(project):
        example = scene.example()
        truth = scoring.truth_of(example)
        change = intervention(example)
        present_ab = example.presence_ab > 0
        yield {
            "example_id": example.example_id,
            "scenario": example.scenario,
            "n_objects": example.n_objects,
            "gold": scene.gold,
            "T": example.T,
            "K": example.K,
            "objects": _colors(example, example.presence_ab),
            "objects_cd": _colors(example, example.presence_cd),
            "confounder_names": list(CONFOUNDERS[example.scenario]),
            "confounders": {
                example.slot_color(int(k)): np.round(
                    example.confounders[k].astype(np.float64), 1
                ).tolist()
                for k in np.flatnonzero(present_ab)
            },
            "gravity": list(example.gravity) if example.gravity is not None else None,
            "intervention": change.kind if change else "none",
            "intervention_object": example.slot_color(change.object) if change else None,
            "intervention_delta": list(change.delta) if change and change.delta else None,
            "explanation": describe_intervention(example),
            "moves_ab": {
                example.slot_color(int(k)): bool(will_move(example.ab, example.scenario)[k])
                for k in np.flatnonzero(present_ab)
            },
            "moves_cd": {
                example.slot_color(int(k)): bool(truth.moves[k])
                for k in np.flatnonzero(truth.present)
            },
            "falls_ab": tower_falls(example.ab),
            "falls_cd": truth.falls,
            "final_positions_cd": {
                example.slot_color(int(k)): np.round(
                    example.cd[-1, k, :3].astype(np.float64), 4
                ).tolist()
                for k in np.flatnonzero(truth.present)
            },
            "marked_object": example.slot_color(truth.target) if truth.target is not None else None,
            "first_contact": truth.first_contact,
        }


def answer_records(project: Project) -> Iterator[dict]:
    scenes = selectors.examples(project)
    truths: dict[str, scoring.Truth] = {}
    for a in selectors.answers(project):
        if a.example_id not in scenes:
            continue
        _, example = scenes[a.example_id]
        truth = truths.setdefault(a.example_id, scoring.truth_of(example))
        score = scoring.answer_score(example, truth, a.value)
        tower = truth.question == "tower"
        yield {
            "annotation_id": a.annotation,
            "participant": f"p{a.participant}",
            "example_id": a.example_id,
            "scenario": a.scenario,
            "condition": a.condition,
            "gold": a.gold,
            "response_per_object": a.value.get("moves") if tower else None,
            "falls": a.value.get("falls") if tower else None,
            "click_x": None if tower else a.value.get("x"),
            "click_y": None if tower else a.value.get("y"),
            "first_contact": a.value.get("first_contact"),
            "blocks_right": sum(score.blocks) if tower else None,
            "blocks_asked": len(score.blocks) if tower else None,
            "falls_right": score.falls,
            "position_error": None if score.error is None else round(score.error, 4),
            "first_contact_right": score.contact,
            "rt_ms": a.duration_ms,
            "simulated": a.simulated,
            "blocked": a.blocked,
            "timestamp": a.created_at.isoformat(),
        }


RECORD_SETS = [
    RecordSet(
        key="scenes",
        title="Scenes",
        description="One row per scene: its objects, the hidden confounders and gravity, the "
        "intervention, and the outcome labels of A → B and C → D (who moves, whether the "
        "tower falls, final positions, what the marked object touches first"
        f" or \u201c{NOTHING}\u201d).",
        columns=SCENE_COLUMNS,
        records=scene_records,
    ),
    RecordSet(
        key="answers",
        title="Answers, scored",
        description="One row per answer: the scene and condition, the answer per block or "
        "the click, what it got right against D, and the response time (ms, from the item "
        "being served to the answer).",
        columns=ANSWER_COLUMNS,
        records=answer_records,
    ),
]
