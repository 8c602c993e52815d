"""What each scene's outcome D is, in the terms of the study's questions, and how a person's
answer, a copy baseline or a model's trajectory scores against it.

The labels come from ``ml.cophy.metrics`` (PROTOCOLS.md §3.4), not re-derived here:
"will it move" is ``will_move`` (the object is moving at some timestep of D), "will the tower
fall" is ``tower_falls``, a click's error is ``final_position_error`` and a trajectory's is
``trajectory_mse``. A prediction that is a trajectory (Copy C, Copy B, a model) answers the
study's questions the way a real run is labelled (``predicted_trajectory_moves``; the
tower-falls rule on the predicted positions), so people and predictors meet on one metric.

**First contact (ours).** Which object the marked one touches first is not a CoPhy label.
Chorus reads it off the 5-fps states: positions are interpolated linearly between frames
(:data:`SUBSTEPS` per frame) and two objects touch when their surfaces come within
:data:`CONTACT_SLACK` (balls: centre distance against the radii; a cylinder: the distance
from the other object's centre to its axis segment, against the radii), with the sizes of
:data:`apps.cophy.schemas.SHAPE_SIZES`. Pairs already touching in the first frame are left
out. It is an approximation for objects moving fast between frames, stated as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml.cophy import baselines
from ml.cophy.layout import POSITION, QUATERNION, Example, intervention
from ml.cophy.metrics import (
    final_position_error,
    predicted_trajectory_moves,
    tower_falls,
    trajectory_mse,
    will_move,
)

from .schemas import NOTHING, SHAPE_SIZES

SUBSTEPS = 8
CONTACT_SLACK = 0.1


def target_of(example: Example) -> int:
    """The marked object of a click question: the one the intervention moved, else the first
    object present in C."""
    change = intervention(example)
    present = np.flatnonzero(example.presence_cd > 0)
    if change is not None and change.kind != "remove" and change.object in present:
        return change.object
    return int(present[0])


def _radius(shape: str) -> float:
    return float(SHAPE_SIZES.get(shape, {}).get("radius", SHAPE_SIZES["cube"]["half"]))


def _axis(quaternion: np.ndarray) -> np.ndarray:
    """The body's local z axis in world coordinates (quaternion x, y, z, w)."""
    x, y, z, w = (float(v) for v in quaternion)
    return np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


def _gap(pa, qa, shape_a: str, pb, qb, shape_b: str) -> float:
    """Distance between the two surfaces (negative when they overlap)."""
    ra, rb = _radius(shape_a), _radius(shape_b)
    for centre, quat, shape, other in ((pa, qa, shape_a, pb), (pb, qb, shape_b, pa)):
        if shape.startswith("cylinder"):
            half = SHAPE_SIZES[shape]["height"] / 2
            axis = _axis(quat)
            along = float(np.clip(np.dot(other - centre, axis), -half, half))
            return float(np.linalg.norm(other - (centre + along * axis))) - ra - rb
    return float(np.linalg.norm(pa - pb)) - ra - rb


def first_contact_slot(
    positions: np.ndarray, quaternions: np.ndarray, shapes: dict[int, str], target: int
) -> int | None:
    """The slot the target touches first along the poses (T, K, 3) / (T, K, 4), or None."""
    others = [k for k in shapes if k != target]
    T = positions.shape[0]

    def gaps(t: float) -> dict[int, float]:
        i = min(int(t), T - 2) if T > 1 else 0
        f = t - i
        p = positions[i] * (1 - f) + positions[min(i + 1, T - 1)] * f
        q = quaternions[i] if f < 0.5 else quaternions[min(i + 1, T - 1)]
        return {
            k: _gap(p[target], q[target], shapes[target], p[k], q[k], shapes[k]) for k in others
        }

    touching_at_start = {k for k, g in gaps(0.0).items() if g <= CONTACT_SLACK}
    for step in range(1, (T - 1) * SUBSTEPS + 1):
        current = gaps(step / SUBSTEPS)
        hits = [(g, k) for k, g in current.items() if g <= CONTACT_SLACK]
        hits = [(g, k) for g, k in hits if k not in touching_at_start]
        if hits:
            return min(hits)[1]
    return None


@dataclass(frozen=True)
class Truth:
    """D in the study's terms, for one scene."""

    question: str  # tower | click
    present: np.ndarray  # (K,) bool: objects present in C
    moves: np.ndarray  # (K,) bool: will_move over D
    falls: bool  # the tower falls (tower_falls over D)
    target: int | None  # click: the marked slot
    final_xy: np.ndarray  # (K, 2): positions at D's last frame
    first_contact: str | None  # click: the colour touched first, or NOTHING


def shapes_of(example: Example, run: str = "cd") -> dict[int, str]:
    present = example.presence_cd if run == "cd" else example.presence_ab
    types = example.object_types(run)
    default = "cube" if example.scenario == "blocktower" else "sphere"
    return {int(k): types.get(int(k), default) for k in np.flatnonzero(present > 0)}


def _contact_name(example: Example, slot: int | None) -> str:
    return NOTHING if slot is None else example.slot_color(slot)


def truth_of(example: Example) -> Truth:
    cd = example.cd
    question = "tower" if example.scenario == "blocktower" else "click"
    target = None if question == "tower" else target_of(example)
    contact = None
    if target is not None:
        slot = first_contact_slot(
            cd[:, :, POSITION], cd[:, :, QUATERNION], shapes_of(example), target
        )
        contact = _contact_name(example, slot)
    return Truth(
        question=question,
        present=example.presence_cd > 0,
        moves=will_move(cd, example.scenario),
        falls=tower_falls(cd),
        target=target,
        final_xy=cd[-1, :, :2].astype(np.float64),
        first_contact=contact,
    )


def gold_value(example: Example) -> dict:
    """The known answer of a gold scene, in the Answer shape."""
    truth = truth_of(example)
    if truth.question == "tower":
        return {
            "moves": {
                example.slot_color(int(k)): bool(truth.moves[k])
                for k in np.flatnonzero(truth.present)
            },
            "falls": truth.falls,
        }
    assert truth.target is not None
    x, y = truth.final_xy[truth.target]
    return {"x": round(float(x), 4), "y": round(float(y), 4), "first_contact": truth.first_contact}


# --- people --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerScore:
    """One answer against the truth: per block right/wrong (towers), the tower, the click."""

    blocks: list[bool]  # per block present in C, in slot order
    falls: bool | None  # None: not a tower
    error: float | None  # click: distance to the final (x, y)
    contact: bool | None  # click: first contact right (None: not asked)


def answer_score(example: Example, truth: Truth, value: dict) -> AnswerScore:
    if truth.question == "tower":
        moves = value.get("moves") or {}
        blocks = [
            bool(moves.get(example.slot_color(int(k)))) == bool(truth.moves[k])
            for k in np.flatnonzero(truth.present)
        ]
        return AnswerScore(blocks, bool(value.get("falls")) == truth.falls, None, None)
    assert truth.target is not None
    error = final_position_error((value["x"], value["y"]), example.cd, truth.target)
    given = value.get("first_contact")
    contact = None if given is None else given == truth.first_contact
    return AnswerScore([], None, error, contact)


# --- trajectories (copy baselines, models) ------------------------------------------------


@dataclass(frozen=True)
class TrajectoryScore:
    """A predicted D (T−1, K, 3) scored as the study scores people, plus the CoPhy MSE."""

    mse: float
    blocks: list[bool]
    falls: bool | None
    error: float | None
    contact: bool | None


def _as_states(start: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """C's states (K, 13) followed by the predicted positions: a run the labels can read."""
    states = np.zeros((prediction.shape[0] + 1, *start.shape), dtype=np.float64)
    states[:] = start
    states[1:, :, POSITION] = prediction[:, :, :3]
    return states


def trajectory_score(example: Example, truth: Truth, prediction: np.ndarray) -> TrajectoryScore:
    prediction = np.asarray(prediction, dtype=np.float64)
    start = example.cd[0].astype(np.float64)
    mse = trajectory_mse(prediction, example.cd, example.scenario)
    if truth.question == "tower":
        moves = predicted_trajectory_moves(start, prediction, example.scenario)
        blocks = [bool(moves[k]) == bool(truth.moves[k]) for k in np.flatnonzero(truth.present)]
        falls = tower_falls(_as_states(start, prediction)) == truth.falls
        return TrajectoryScore(mse, blocks, falls, None, None)
    assert truth.target is not None
    final = prediction[-1, truth.target, :2]
    error = final_position_error(final, example.cd, truth.target)
    states = _as_states(start, prediction)
    slot = first_contact_slot(
        states[:, :, POSITION], states[:, :, QUATERNION], shapes_of(example), truth.target
    )
    contact = _contact_name(example, slot) == truth.first_contact
    return TrajectoryScore(mse, [], None, error, contact)


def baseline_predictions(example: Example) -> dict[str, np.ndarray]:
    """Copy C and Copy B of ``ml.cophy.baselines`` for one scene."""
    return {name: baseline(example) for name, baseline in baselines.BASELINES.items()}
