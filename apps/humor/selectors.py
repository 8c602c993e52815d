"""Reads of the humor task: the results page's figures and the CHoRaL-style export."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from apps.core import quality
from apps.core.models import Assignment, Item, Participant, Project
from apps.core.registry import Figure, Results, Table

from .schemas import REACTION_TO_ANSWER

CHUNK = 2000
HS_BINS = 20
NS_BINS = 20
REFERENCE_HUMAN_F1 = 0.867
REFERENCE_NOTE = (
    "Reference: human F1 0.867 from the CHoRaL talk slides [B]. The paper's protocol for it "
    "(number of annotators, aggregation, which labels count as gold) is unknown, so it is "
    "shown beside our figures, not as a like-for-like comparison."
)
PROTOCOL_NOTE = (
    "Our protocol (PLATFORM DEFAULT, not CHoRaL's): each post answered by `overlap` people "
    '("Is this post meant to be funny?"), compared with the reaction label '
    "(humorous → yes, non-humorous → no) on posts that have one; positive class = yes. "
    "Answers of blocked participants are excluded."
)


def _python(value: Any) -> Any:
    """numpy scalars (from pandas/crowd-kit) as plain Python for JSON and templates."""
    return value.item() if hasattr(value, "item") else value


def _scores(project: Project) -> tuple[list[float], list[float], dict[int, str], dict[str, int]]:
    """HS and NS of every regular post, reaction labels as yes/no, and label counts."""
    hs: list[float] = []
    ns: list[float] = []
    truth: dict[int, str] = {}
    counts = {"humorous": 0, "non_humorous": 0, "unlabelled": 0}
    rows = Item.objects.filter(project=project, kind=Item.Kind.REGULAR).values_list(
        "pk", "payload__hs", "payload__ns", "payload__reaction_label"
    )
    for pk, h_score, n_score, label in rows.iterator(chunk_size=CHUNK):
        if h_score is not None:
            hs.append(float(h_score))
        if n_score is not None:
            ns.append(float(n_score))
        if label in REACTION_TO_ANSWER:
            truth[pk] = REACTION_TO_ANSWER[label]
            counts[label] += 1
        else:
            counts["unlabelled"] += 1
    return hs, ns, truth, counts


def _histogram(
    title: str, values: list[float], bins: int, value_range=None, note: str = ""
) -> Figure:
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=value_range)
    return Figure(
        title=title,
        kind="histogram",
        note=note,
        series={"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
    )


def _compare(aggregates: dict[int, quality.Aggregate], truth: dict[int, str]) -> dict[str, Any]:
    pairs = [(truth[pk], _python(agg.label)) for pk, agg in aggregates.items() if pk in truth]
    if not pairs:
        return {
            "n": 0,
            "precision": None,
            "recall": None,
            "f1": None,
            "confusion": [[0, 0], [0, 0]],
        }
    y_true, y_pred = zip(*pairs, strict=True)
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=["yes"], average=None, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=["yes", "no"])
    return {
        "n": len(pairs),
        "precision": float(p[0]),
        "recall": float(r[0]),
        "f1": float(f[0]),
        "confusion": matrix.tolist(),
    }


def _aggregate(frame: pd.DataFrame, method: str) -> dict[int, quality.Aggregate]:
    if frame.empty:
        return {}
    return quality.aggregate(frame, method)


def _per_annotator(
    frame: pd.DataFrame, truth: dict[int, str], majority: dict[int, quality.Aggregate]
) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    names = {
        pk: f"{source}:{external_id}"
        for pk, source, external_id in Participant.objects.filter(
            pk__in=frame["worker"].unique().tolist()
        ).values_list("pk", "source", "external_id")
    }
    out = []
    for worker, answers in frame.groupby("worker"):
        scored = [
            (truth[t], label)
            for t, label in zip(answers["task"], answers["label"], strict=True)
            if t in truth
        ]
        row: dict[str, Any] = {
            "annotator": names.get(int(worker), str(worker)),
            "answers": len(answers),
            "scored": len(scored),
            "precision": None,
            "recall": None,
            "f1": None,
        }
        if scored:
            y_true, y_pred = zip(*scored, strict=True)
            p, r, f, _ = precision_recall_fscore_support(
                y_true, y_pred, labels=["yes"], average=None, zero_division=0
            )
            row.update(precision=float(p[0]), recall=float(r[0]), f1=float(f[0]))
        agree = [
            label == _python(majority[t].label)
            for t, label in zip(answers["task"], answers["label"], strict=True)
            if t in majority
        ]
        row["agreement_with_majority"] = sum(agree) / len(agree) if agree else None
        out.append(row)
    return sorted(out, key=lambda r: r["annotator"])


def _fmt(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else ("—" if value is None else value)


def humor_results(*, project: Project) -> Results:
    """Score histograms, human agreement, and human labels against reaction labels."""
    hs, ns, truth, label_counts = _scores(project)
    frame = quality.answers_frame(project)
    alpha = quality.krippendorff_alpha(frame, "nominal")
    majority = _aggregate(frame, "majority")
    dawid_skene = _aggregate(frame, "dawid_skene")
    by_method = {"majority": _compare(majority, truth), "dawid_skene": _compare(dawid_skene, truth)}
    annotators = _per_annotator(frame, truth, majority)
    annotator_f1 = [a["f1"] for a in annotators if a["f1"] is not None]
    meta = (project.derived or {}).get("score_meta") or {}
    skipped = Assignment.objects.filter(
        item__project=project, item__kind=Item.Kind.REGULAR, status=Assignment.Status.SKIPPED
    ).count()

    metrics: dict[str, Any] = {
        "posts": len(hs),
        **label_counts,
        "train": meta.get("train", 0),
        "test": meta.get("test", 0),
        "answers": int(len(frame)),
        "annotators": int(frame["worker"].nunique()) if not frame.empty else 0,
        "skipped": skipped,
        "krippendorff_alpha": alpha,
        "mean_annotator_f1": float(np.mean(annotator_f1)) if annotator_f1 else None,
        "reference_human_f1": REFERENCE_HUMAN_F1,
        "s_version": meta.get("s_version"),
        "ns_version": meta.get("ns_version"),
    }
    for method, result in by_method.items():
        for key in ("precision", "recall", "f1", "n"):
            metrics[f"{method}_{key}"] = result[key]

    comparison = Table(
        title="Human labels against reaction labels",
        columns=["labels", "posts", "precision", "recall", "F1"],
        rows=[
            [
                "Majority vote (ours)",
                *[_fmt(by_method["majority"][k]) for k in ("n", "precision", "recall", "f1")],
            ],
            [
                "Dawid–Skene (ours)",
                *[_fmt(by_method["dawid_skene"][k]) for k in ("n", "precision", "recall", "f1")],
            ],
            [
                "Mean per annotator (ours)",
                len(annotator_f1),
                "—",
                "—",
                _fmt(metrics["mean_annotator_f1"]),
            ],
            ["CHoRaL slides: human (reference)", "—", "—", "—", REFERENCE_HUMAN_F1],
        ],
        note=REFERENCE_NOTE,
    )
    tables = [comparison]
    for method, title in (("majority", "majority vote"), ("dawid_skene", "Dawid–Skene")):
        matrix = by_method[method]["confusion"]
        tables.append(
            Table(
                title=f"Confusion matrix: reaction label × human label ({title})",
                columns=["reaction label", "human yes", "human no"],
                rows=[["humorous", *matrix[0]], ["non-humorous", *matrix[1]]],
            )
        )
    tables.append(
        Table(
            title="Per-annotator F1 against reaction labels",
            columns=[
                "annotator",
                "answers",
                "with a reaction label",
                "precision",
                "recall",
                "F1",
                "agreement with majority",
            ],
            rows=[
                [
                    a["annotator"],
                    a["answers"],
                    a["scored"],
                    _fmt(a["precision"]),
                    _fmt(a["recall"]),
                    _fmt(a["f1"]),
                    _fmt(a["agreement_with_majority"]),
                ]
                for a in annotators
            ],
        )
    )
    if meta:
        settings_rows = [
            [key, meta.get(key)]
            for key in (
                "s_version",
                "s_average",
                "reactions",
                "counted_in_t",
                "ns_version",
                "k",
                "negative_rule",
                "seed",
                "test_share",
                "posts_with_reactions",
                "computed_at",
            )
        ]
        settings_rows.append(["S", {r: round(v, 6) for r, v in (meta.get("S") or {}).items()}])
        tables.append(
            Table(
                title="Score settings behind these labels",
                columns=["setting", "value"],
                rows=settings_rows,
            )
        )

    answers = frame["label"].value_counts().to_dict() if not frame.empty else {}
    figures = [
        _histogram(
            "Humor score (HS) of all posts", hs, HS_BINS, (0.0, 1.0), note="HS = (h/t)·tanh(t/50)"
        ),
        _histogram(
            f"Non-humor score (NS, {meta.get('ns_version', '?')}) of posts with reactions",
            ns,
            NS_BINS,
        ),
        Figure(
            title="Reaction labels",
            kind="bar",
            series={
                "labels": ["humorous", "non-humorous", "unlabelled"],
                "values": [
                    label_counts["humorous"],
                    label_counts["non_humorous"],
                    label_counts["unlabelled"],
                ],
            },
        ),
        Figure(
            title="Human answers",
            kind="bar",
            series={
                "labels": ["yes", "no", "skipped"],
                "values": [int(answers.get("yes", 0)), int(answers.get("no", 0)), skipped],
            },
        ),
    ]
    notes = [PROTOCOL_NOTE, REFERENCE_NOTE]
    if alpha is None:
        notes.append("Krippendorff's alpha needs at least one post with two answers.")
    return Results(metrics=metrics, tables=tables, figures=figures, notes=notes)
