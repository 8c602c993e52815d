"""Agreement and aggregation over a project's answers, from well-kept libraries.

Only regular items and answers of non-blocked participants count (blocked participants'
answers stay in the database but are excluded here). Labels come from the task type's
``label_of``; a ``None`` label (no categorical answer) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote

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
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement=level))


@dataclass(frozen=True)
class Aggregate:
    label: Any
    confidence: float
    n: int


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
    # One tie rule for every caller (results, exports, training labels): a tie goes to the
    # label that sorts first. crowd-kit alone would pick the label seen first, which depends
    # on the order answers were read.
    proba = proba[sorted(proba.columns, key=str)]
    counts = frame.groupby("task").size()
    result: dict[int, Aggregate] = {}
    for task, row in proba.iterrows():
        label = row.idxmax()
        result[int(task)] = Aggregate(label=label, confidence=float(row.max()), n=int(counts[task]))
    return result
