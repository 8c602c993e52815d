"""CHoRaL's metrics: F1 and ROC AUC of the humorous class (PROTOCOLS.md §1.3).

For the continuous (HS) model the paper reports F1/AUC "after thresholding"; its threshold
is not published [U], so ours is stated in the metrics: the midpoint between the mean HS of
the humorous and the non-humorous training posts (AUC needs no threshold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score


def binary_metrics(labels: Sequence[int], scores: Sequence[float], threshold: float) -> dict:
    """F1/AUC/accuracy for binary ``labels`` against real-valued ``scores`` cut at ``threshold``."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    if y.size == 0:
        return {"n_test": 0, "f1": None, "auc": None, "accuracy": None}
    predicted = (s >= threshold).astype(int)
    auc = float(roc_auc_score(y, s)) if np.unique(y).size == 2 else None
    return {
        "n_test": int(y.size),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "auc": auc,
        "accuracy": float(accuracy_score(y, predicted)),
    }


def regression_metrics(targets: Sequence[float], predictions: Sequence[float]) -> dict:
    t = np.asarray(targets, dtype=float)
    p = np.asarray(predictions, dtype=float)
    if t.size == 0:
        return {"mse": None, "pearson_r": None}
    r = float(pearsonr(t, p).statistic) if t.size > 2 and t.std() > 0 and p.std() > 0 else None
    return {
        "mse": float(np.mean((t - p) ** 2)),
        "pearson_r": r if r is None or math.isfinite(r) else None,
    }


def hs_threshold(hs: Sequence[float], labels: Sequence[int | None]) -> float:
    """Midpoint of the class means of HS; the median HS when one class is missing."""
    pos = [h for h, y in zip(hs, labels, strict=True) if y == 1]
    neg = [h for h, y in zip(hs, labels, strict=True) if y == 0]
    if pos and neg:
        return float((np.mean(pos) + np.mean(neg)) / 2)
    return float(np.median(hs)) if len(hs) else 0.0
