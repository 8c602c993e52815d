"""Agreement and aggregation over a project's answers, from well-kept libraries.

Only regular items and answers of non-blocked participants count (blocked participants'
answers stay in the database but are excluded here). Labels come from the task type's
``label_of``; a ``None`` label (no categorical answer) is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote
from scipy.stats import binomtest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from . import registry
from .models import Annotation, Item, Participant, Project


def answers_frame(project: Project, *, include_blocked: bool = False) -> pd.DataFrame:
    """One row per counted answer: ``task`` (item id), ``worker`` (participant id), ``label``."""
    task_type = registry.get(project.task_type)
    qs = Annotation.objects.filter(project=project, item__kind=Item.Kind.REGULAR)
    if not include_blocked:
        qs = qs.exclude(participant__status=Participant.Status.BLOCKED)
    rows = []
    for item_id, participant_id, value in qs.values_list(
        "item_id", "participant_id", "value"
    ).iterator(chunk_size=5000):
        label = task_type.label_of(value)
        if label is not None:
            rows.append((item_id, participant_id, label))
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def krippendorff_alpha(frame: pd.DataFrame, level: str = "nominal") -> float | None:
    """Krippendorff's alpha for the frame's labels; None when there is too little overlap."""
    if frame.empty or frame.groupby("task").size().max() < 2:
        return None
    matrix = frame.pivot_table(index="worker", columns="task", values="label", aggfunc="first")
    if level == "nominal":
        codes = {label: i for i, label in enumerate(sorted(frame["label"].unique(), key=str))}
        data = matrix.map(lambda v: codes.get(v, np.nan) if pd.notna(v) else np.nan)
    else:
        data = matrix.astype(float)
    values = data.to_numpy(dtype=float)
    if np.unique(values[~np.isnan(values)]).size < 2:
        return 1.0 if frame.groupby("task").size().max() >= 2 else None
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement=level))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Aggregate:
    label: Any
    confidence: float
    n: int
    tie: bool = False  # two or more labels share the top score; ``label`` sorts first of them


def aggregate(frame: pd.DataFrame, method: str = "majority") -> dict[int, Aggregate]:
    """One label per item with its confidence: ``majority`` vote or ``dawid_skene`` (crowd-kit).

    Ties (majority: equal vote counts) go to the label that sorts first; the confidence shows
    the tie (0.5 for two labels).
    """
    if frame.empty:
        return {}
    model = {"majority": MajorityVote, "dawid_skene": DawidSkene}[method]()
    data = frame[["task", "worker", "label"]]
    proba = model.fit_predict_proba(data) if method == "dawid_skene" else None
    if method == "majority":
        model.fit(data)
        proba = model.probas_
    assert proba is not None
    # One tie rule for every caller (results, exports, training labels): a tie goes to the
    # label that sorts first. crowd-kit alone would pick the label seen first, which depends
    # on the order answers were read.
    proba = proba[sorted(proba.columns, key=str)]
    counts = frame.groupby("task").size()
    result: dict[int, Aggregate] = {}
    for task, row in proba.iterrows():
        label = row.idxmax()
        top = float(row.max())
        tie = int((row >= top - 1e-12).sum()) > 1
        result[int(task)] = Aggregate(label=label, confidence=top, n=int(counts[task]), tie=tie)
    return result


# --- against a reference, and per annotator ----------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Predicted labels against reference labels on the items both have.

    With ``positive`` set, precision/recall/F1 are those of that class (binary); otherwise they
    are macro-averaged over ``labels``. ``confusion[i][j]`` counts items whose reference is
    ``labels[i]`` and whose prediction is ``labels[j]``. Wilson 95 % intervals come with the
    positive class's precision and recall (they are proportions; F1 is not).
    """

    n: int
    labels: tuple
    positive: Any
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    confusion: list[list[int]]
    precision_interval: tuple[float, float] | None = None
    recall_interval: tuple[float, float] | None = None


def proportion_interval(successes: int, trials: int, confidence: float = 0.95):
    """Wilson score interval of a proportion (scipy); None without trials."""
    if trials <= 0:
        return None
    ci = binomtest(int(successes), int(trials)).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return (float(ci.low), float(ci.high))


def compare_to_reference(
    pred: Mapping[Any, Any],
    ref: Mapping[Any, Any],
    labels: Sequence[Any],
    *,
    positive: Any = None,
) -> Comparison:
    """Precision, recall, F1, accuracy and the confusion matrix (scikit-learn) of ``pred``
    against ``ref``, both mappings from an item key to a label, on the keys they share.
    Labels outside ``labels`` count as wrong; a class never predicted scores 0, not an error.
    """
    labels = tuple(registry.json_ready(label) for label in labels)
    pairs = [(registry.json_ready(ref[k]), registry.json_ready(pred[k])) for k in pred if k in ref]
    size = len(labels)
    if not pairs:
        return Comparison(
            0, labels, positive, None, None, None, None, [[0] * size for _ in range(size)]
        )
    y_true, y_pred = (list(side) for side in zip(*pairs, strict=True))
    matrix = confusion_matrix(y_true, y_pred, labels=list(labels)).tolist()
    accuracy = sum(t == p for t, p in pairs) / len(pairs)
    if positive is not None:
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=[positive], average=None, zero_division=0
        )
        tp = sum(t == positive and q == positive for t, q in pairs)
        predicted = sum(q == positive for _, q in pairs)
        actual = sum(t == positive for t, _ in pairs)
        return Comparison(
            n=len(pairs),
            labels=labels,
            positive=positive,
            precision=float(p[0]),
            recall=float(r[0]),
            f1=float(f[0]),
            accuracy=accuracy,
            confusion=matrix,
            precision_interval=proportion_interval(tp, predicted),
            recall_interval=proportion_interval(tp, actual),
        )
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(labels), average="macro", zero_division=0
    )
    return Comparison(len(pairs), labels, None, float(p), float(r), float(f), accuracy, matrix)


@dataclass(frozen=True)
class AnnotatorAgreement:
    """One annotator against the majority of the *other* annotators of the same items.

    Items where the others tie, or where nobody else answered, are left out (``compared``
    counts the rest). ``kappa`` is Cohen's kappa of the annotator's labels against the others'
    majority; None where it is undefined (both sides used one label only).
    """

    worker: int
    answers: int
    compared: int
    agreement: float | None
    kappa: float | None


def annotator_agreement(frame: pd.DataFrame) -> dict[int, AnnotatorAgreement]:
    """Per-annotator agreement with the leave-one-out majority, keyed by participant id."""
    if frame.empty:
        return {}
    by_task: dict[Any, list[tuple[Any, Any]]] = {}
    for task, worker, label in frame[["task", "worker", "label"]].itertuples(index=False):
        by_task.setdefault(task, []).append((worker, registry.json_ready(label)))
    mine: dict[Any, list[Any]] = {}
    others: dict[Any, list[Any]] = {}
    answers: dict[Any, int] = {}
    for votes in by_task.values():
        for worker, label in votes:
            answers[worker] = answers.get(worker, 0) + 1
            counts = Counter(other for w, other in votes if w != worker)
            top = counts.most_common(2)
            if not top or (len(top) == 2 and top[0][1] == top[1][1]):
                continue  # nobody else, or the others tie: no majority to agree with
            mine.setdefault(worker, []).append(label)
            others.setdefault(worker, []).append(top[0][0])
    result = {}
    for worker, n in answers.items():
        a, b = mine.get(worker, []), others.get(worker, [])
        kappa = None
        if a and len(set(a) | set(b)) > 1:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = cohen_kappa_score([str(x) for x in a], [str(x) for x in b])
            kappa = None if np.isnan(value) else float(value)
        result[int(worker)] = AnnotatorAgreement(
            worker=int(worker),
            answers=n,
            compared=len(a),
            agreement=sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None,
            kappa=kappa,
        )
    return result


def annotators_against_reference(
    frame: pd.DataFrame, ref: Mapping[Any, Any], labels: Sequence[Any], *, positive: Any = None
) -> dict[int, Comparison]:
    """Each annotator's own answers compared to the reference, keyed by participant id."""
    return {
        int(worker): compare_to_reference(
            dict(zip(answers["task"], answers["label"], strict=True)),
            ref,
            labels,
            positive=positive,
        )
        for worker, answers in frame.groupby("worker")
    }
