"""Accuracy and F1 of the context classifier, and the majority-class baseline beside them.

Macro-F1 is the unweighted mean of the per-class F1 over the classes that occur in the gold
labels or the predictions (all three on the official dev split), as scikit-learn averages by
default; a class in neither has no F1 (None), rather than a 0 that would pull the mean down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from .data import LABELS


def _scores(gold: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    return (
        float(accuracy_score(gold, predicted)),
        float(f1_score(gold, predicted, average="macro", zero_division=0)),
    )


def context_metrics(
    gold: Sequence[str], predicted: Sequence[str], *, majority: str
) -> dict[str, Any]:
    """Accuracy, macro-F1, F1 per class and the confusion table of ``predicted`` vs ``gold``.

    ``majority`` is the most frequent training label: always answering it is the baseline a
    classifier has to beat (``majority_accuracy``, ``majority_macro_f1``).
    """
    if not gold:
        return {
            "n_test": 0,
            "accuracy": None,
            "macro_f1": None,
            **{f"f1_{label}": None for label in LABELS},
            "majority_label": majority,
            "majority_accuracy": None,
            "majority_macro_f1": None,
        }
    accuracy, macro = _scores(gold, predicted)
    per_class = f1_score(gold, predicted, labels=list(LABELS), average=None, zero_division=0)
    seen = set(gold) | set(predicted)
    baseline_accuracy, baseline_macro = _scores(gold, [majority] * len(gold))
    table = confusion_matrix(gold, predicted, labels=list(LABELS))
    return {
        "n_test": len(gold),
        "accuracy": accuracy,
        "macro_f1": macro,
        **{
            f"f1_{label}": float(f1) if label in seen else None
            for label, f1 in zip(LABELS, per_class, strict=True)
        },
        "majority_label": majority,
        "majority_accuracy": baseline_accuracy,
        "majority_macro_f1": baseline_macro,
        # {gold label: {predicted label: count}}
        "confusion": {
            g: {p: int(table[i, j]) for j, p in enumerate(LABELS)} for i, g in enumerate(LABELS)
        },
    }
