"""The VoiceMOS Challenge metrics: MSE, LCC, SRCC and Kendall's tau, per clip and per system.

Utterance level compares each test clip's predicted MOS with its mean vote. System level
(as the challenge scores it) first averages, per system, the predictions and the mean votes
of that system's test clips, then compares the two lists of system means. Correlations come
from ``scipy.stats``; a correlation is None with fewer than three points or a constant side,
where it is undefined or says nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from scipy.stats import kendalltau, pearsonr, spearmanr


def _correlation(fn, a: np.ndarray, b: np.ndarray) -> float | None:
    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    value = float(fn(a, b).statistic)
    return value if math.isfinite(value) else None


def level_metrics(true: Sequence[float], pred: Sequence[float], prefix: str) -> dict:
    t = np.asarray(true, dtype=float)
    p = np.asarray(pred, dtype=float)
    return {
        f"{prefix}_mse": float(np.mean((t - p) ** 2)) if t.size else None,
        f"{prefix}_lcc": _correlation(pearsonr, t, p),
        f"{prefix}_srcc": _correlation(spearmanr, t, p),
        f"{prefix}_ktau": _correlation(kendalltau, t, p),
    }


def system_means(
    systems: Sequence[str], true: Sequence[float], pred: Sequence[float]
) -> tuple[list[str], list[float], list[float]]:
    """(systems sorted, mean true MOS, mean predicted MOS) over each system's clips."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for system, t, p in zip(systems, true, pred, strict=True):
        groups[system].append((t, p))
    names = sorted(groups)
    return (
        names,
        [float(np.mean([t for t, _ in groups[s]])) for s in names],
        [float(np.mean([p for _, p in groups[s]])) for s in names],
    )


def mos_metrics(systems: Sequence[str], true: Sequence[float], pred: Sequence[float]) -> dict:
    """Utterance-level (``utt_*``) and system-level (``sys_*``) metrics with the counts."""
    names, sys_true, sys_pred = system_means(systems, true, pred)
    return {
        **level_metrics(true, pred, "utt"),
        **level_metrics(sys_true, sys_pred, "sys"),
        "n_test": len(true),
        "n_test_systems": len(names),
    }
