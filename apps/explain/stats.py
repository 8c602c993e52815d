"""The human numbers per normalisation: pairwise win rates, a Bradley–Terry ranking with a
bootstrap interval over participants, mean plausibility and mean IoU of the drawn boxes.

Inputs are plain rows (``selectors.Answer``), so each number can be recomputed from the
database by hand: win rate = (wins + ½ ties) / comparisons of that normalisation; the
Bradley–Terry scores are crowd-kit's ``BradleyTerry`` on the decisive comparisons (ties carry
no preference), the interval the percentiles of that fit over participants resampled with
replacement (seeded).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.explain.saliency import NORMALISATIONS

from . import metrics
from .selectors import Answer

BT_ITERATIONS = 100


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def winner(answer: Answer) -> str | None:
    """The normalisation a pairwise answer preferred; None for "same"."""
    a, b = answer.normalisations
    return {"a": a, "b": b}.get(answer.value.get("preferred", ""))


def win_rates(rows: Sequence[Answer]) -> dict[str, float | None]:
    """Per normalisation: (wins + ½ ties) / comparisons it took part in."""
    points: dict[str, float] = defaultdict(float)
    shown: dict[str, int] = defaultdict(int)
    for row in rows:
        best = winner(row)
        for method in row.normalisations:
            shown[method] += 1
            points[method] += 1.0 if best == method else (0.5 if best is None else 0.0)
    return {m: points[m] / shown[m] if shown[m] else None for m in NORMALISATIONS}


def _comparisons(rows: Sequence[Answer]) -> pd.DataFrame:
    records = []
    for row in rows:
        best = winner(row)
        if best is not None:
            a, b = row.normalisations
            records.append({"worker": row.participant, "left": a, "right": b, "label": best})
    return pd.DataFrame(records, columns=["worker", "left", "right", "label"])


def bradley_terry(rows: Sequence[Answer]) -> dict[str, float | None]:
    """crowd-kit's Bradley–Terry scores of the decisive comparisons (they sum to 1)."""
    from crowdkit.aggregation import BradleyTerry

    frame = _comparisons(rows)
    if frame.empty or frame["label"].nunique() < 1:
        return dict.fromkeys(NORMALISATIONS)
    scores = BradleyTerry(n_iter=BT_ITERATIONS).fit(frame).scores_
    return {m: float(scores[m]) if m in scores.index else None for m in NORMALISATIONS}


def bradley_terry_intervals(
    rows: Sequence[Answer], *, samples: int, seed: int, confidence: float
) -> dict[str, Interval | None]:
    """Percentile intervals of the Bradley–Terry scores over participants drawn with
    replacement (each keeps all of their answers), ``samples`` times with ``seed``."""
    by_participant: dict[int, list[Answer]] = defaultdict(list)
    for row in rows:
        by_participant[row.participant].append(row)
    people = sorted(by_participant)
    if len(people) < 2:
        return dict.fromkeys(NORMALISATIONS)
    rng = random.Random(seed)
    draws: dict[str, list[float]] = defaultdict(list)
    for _ in range(samples):
        resampled = [r for p in rng.choices(people, k=len(people)) for r in by_participant[p]]
        for method, score in bradley_terry(resampled).items():
            if score is not None:
                draws[method].append(score)
    tail = (1 - confidence) / 2 * 100
    return {
        m: Interval(*(float(v) for v in np.percentile(draws[m], [tail, 100 - tail])))
        if draws[m]
        else None
        for m in NORMALISATIONS
    }


def mean_plausibility(rows: Sequence[Answer]) -> dict[str, tuple[float | None, int]]:
    scores: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        scores[row.normalisations[0]].append(int(row.value["score"]))
    return {
        m: (float(np.mean(scores[m])) if scores[m] else None, len(scores[m]))
        for m in NORMALISATIONS
    }


def human_box_iou(row: Answer) -> float:
    v = row.value
    return metrics.box_iou([v["x0"], v["y0"], v["x1"], v["y1"]], row.boxes)


def mean_box_iou(rows: Sequence[Answer]) -> dict[str, tuple[float | None, int]]:
    ious: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        ious[row.normalisations[0]].append(human_box_iou(row))
    return {m: (float(np.mean(ious[m])) if ious[m] else None, len(ious[m])) for m in NORMALISATIONS}
