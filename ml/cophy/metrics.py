"""CoPhy's metrics exactly as the official evaluation computes them (PROTOCOLS.md §3.4), and the
per-object and per-scene labels the human study asks about.

* **Trajectory MSE** of one example, against the counterfactual outcome D (t = 1..T−1)::

      MSE = Σ_{t,k} presence_k · mean_{d<Dim} (pred[t,k,d] − gt[t,k,d])²  /  (Σ_k presence_k · (T−1))

  with Dim = 3 (x, y, z) for block towers and collisions, 2 (x, y) for balls, and presence
  from CD's first frame. A set's number is the mean over its examples (the paper's mean of
  per-batch means equals it up to the last, smaller batch).
* **Is moving** (the stability label), per object and timestep:
  ``1[Σ_d |pos[t+Δ] − pos[t−Δ]| > 0.05] · presence`` with indices clipped to [0, T−1] and
  Δ = 2 (blocks, balls) or 5 (collision), over the 3 position coordinates.
* **Will it move** (what a participant answers per object, ours): an object moves in a run
  when it is moving at any timestep of that run.
* **Will the tower fall** (per scene, ours): a run is unstable when
  ``Σ_k Σ_d |pos[0,k,d] − pos[T−1,k,d]| ≥ 0.05`` over the positions of all objects.
  ``bias_free_blocktower.py`` sums over all 13 state columns (quaternions and velocities
  too); we keep positions, which is what a participant sees, and equals it whenever a block
  changes place.
* **Stability accuracy**: the share of (object[, timestep]) labels predicted right, among
  present objects. The official code logs ``100·(1 − mean|1[logit>0] − gt|)``, a percentage
  over all slots; we return a fraction over present objects (absent slots are trivially
  right and would inflate it).
* **Final-position error** of a click on the ground plane: the 2-D Euclidean distance
  between the clicked (x, y) and the object's (x, y) at the last timestep of D.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .layout import POSITION, Example, presence

DIMS = {"blocktower": 3, "balls": 2, "collision": 3}
DELTAS = {"blocktower": 2, "balls": 2, "collision": 5}
MOVING_EPS = 0.05
FALL_EPS = 0.05


def trajectory_mse(prediction: np.ndarray, target: np.ndarray, scenario: str) -> float:
    """Per-example MSE of ``prediction`` (T−1, K, ≥Dim) positions for t = 1..T−1 against the
    target run's states (T, K, 13)."""
    dim = DIMS[scenario]
    T = target.shape[0]
    if prediction.shape[:2] != (T - 1, target.shape[1]) or prediction.shape[2] < dim:
        raise ValueError(
            f"prediction has shape {prediction.shape}, expected ({T - 1}, {target.shape[1]}, ≥{dim})"
        )
    gt = target[1:, :, :dim].astype(np.float64)
    err = ((prediction[:, :, :dim].astype(np.float64) - gt) ** 2).mean(-1)  # (T−1, K)
    weight = presence(target).astype(np.float64)
    return float((err * weight[None, :]).sum() / (weight.sum() * (T - 1)))


def mean_mse(predictions: Sequence[np.ndarray], examples: Sequence[Example]) -> float | None:
    """Mean per-example MSE against each example's CD (None for no examples)."""
    scores = [
        trajectory_mse(p, e.cd, e.scenario) for p, e in zip(predictions, examples, strict=True)
    ]
    return float(np.mean(scores)) if scores else None


def is_moving_pose(
    pose: np.ndarray, present: np.ndarray, delta: int, eps: float = MOVING_EPS
) -> np.ndarray:
    """(T, K) 1/0 labels of positions ``pose`` (T, K, 3), as the official ``get_stab``."""
    T = pose.shape[0]
    t = np.arange(T)
    before = np.clip(t - delta, 0, T - 1)
    after = np.clip(t + delta, 0, T - 1)
    moved = np.abs(pose[after] - pose[before]).sum(-1) > eps
    return moved.astype(np.float32) * present[None, :].astype(np.float32)


def is_moving(states: np.ndarray, scenario: str) -> np.ndarray:
    """(T, K) stability labels of a run's states (T, K, 13)."""
    return is_moving_pose(states[:, :, POSITION], presence(states), DELTAS[scenario])


def will_move(states: np.ndarray, scenario: str) -> np.ndarray:
    """(K,) bool: the object is moving at some timestep of the run (False for absent slots)."""
    return is_moving(states, scenario).max(0) > 0


def tower_falls(states: np.ndarray) -> bool:
    """The run is unstable: the objects' positions at the end differ from the start by ≥ 0.05."""
    present = presence(states) > 0
    shift = np.abs(states[-1, present, POSITION] - states[0, present, POSITION]).sum()
    return bool(shift >= FALL_EPS)


def predicted_trajectory_moves(
    start: np.ndarray, prediction: np.ndarray, scenario: str
) -> np.ndarray:
    """(K,) bool "will it move" read off a predicted D: C's states (K, 13) followed by the
    predicted positions (T−1, K, 3), labelled as a real run would be."""
    pose = np.concatenate([start[None, :, POSITION], prediction[:, :, :3]], axis=0)
    present = (np.abs(start[:, POSITION]).sum(-1) > 0).astype(np.float32)
    return is_moving_pose(pose, present, DELTAS[scenario]).max(0) > 0


def stability_accuracy(
    predicted: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None
) -> float | None:
    """Share of labels where ``predicted`` (bool, or probabilities cut at 0.5) equals ``truth``,
    among the entries ``mask`` keeps (all when None); None when it keeps nothing."""
    p = np.asarray(predicted)
    p = p > 0.5 if p.dtype.kind == "f" else p.astype(bool)
    t = np.asarray(truth).astype(bool)
    keep = np.ones_like(t, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    keep = np.broadcast_to(keep, t.shape)
    if not keep.any():
        return None
    return float((p == t)[keep].mean())


def final_position_error(click_xy: Iterable[float], states: np.ndarray, k: int) -> float:
    """2-D distance between a click (x, y) on the ground plane and object ``k``'s final (x, y)."""
    click = np.asarray(list(click_xy), dtype=np.float64)
    return float(np.linalg.norm(click - states[-1, k, :2].astype(np.float64)))
