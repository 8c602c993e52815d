"""Reads of the humor task: the results page's figures and the CHoRaL-style export."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from django.db.models.fields.json import KT

from apps.core import quality
from apps.core.models import Assignment, Item, Participant, Project
from apps.core.registry import json_ready
from apps.core.results import (
    BarFigure,
    BarSeries,
    HistogramFigure,
    Metric,
    ReferenceLine,
    Results,
    ScatterFigure,
    Table,
)

from .schemas import REACTION_TO_ANSWER, Config

HS_BINS = 20
NS_BINS = 20
REFERENCE_HUMAN_F1 = 0.867
REFERENCE_NOTE = (
    "Reference: human F1 0.867, a figure quoted in the CHoRaL talk slides and not confirmed "
    "in the paper. The paper's protocol for it (number of annotators, aggregation, which "
    "labels count as gold) is unknown, so it is shown beside our figures, not as a "
    "like-for-like comparison."
)


def protocol_note(overlap: int) -> str:
    return (
        "Our protocol (a platform default, not CHoRaL's): each post is answered by "
        f'{overlap} {"person" if overlap == 1 else "people"} ("Is this post meant to be '
        'funny?"), compared with the reaction label (humorous → yes, non-humorous → no) on '
        "posts that have one; positive class = yes. Answers of blocked participants are "
        "excluded."
    )


# One line per figure on the cards, with CHoRaL's symbols (PROTOCOLS.md §1.2).
HS_WORDS = "humor score HS = (h/t)·tanh(t/50), h = Haha count, t = all reactions counted"
PRECISION_HELP = "Of the posts people called funny, the share whose reaction label is humorous."
RECALL_HELP = "Of the posts whose reaction label is humorous, the share people called funny."
F1_HELP = "F1 = 2·precision·recall / (precision + recall); positive class: funny."


def _scores(project: Project) -> tuple[list[float], list[float], dict[int, str], dict[str, int]]:
    """HS and NS of every regular post, reaction labels as yes/no, and label counts."""
    hs: list[float] = []
    ns: list[float] = []
    truth: dict[int, str] = {}
    counts = {"humorous": 0, "non_humorous": 0, "unlabelled": 0}
    # The payload's keys as text (KT): no JSON decoding of a third of a million payloads.
    rows = Item.objects.filter(project=project, kind=Item.Kind.REGULAR).values_list(
        "pk", KT("payload__hs"), KT("payload__ns"), KT("payload__reaction_label")
    )
    with quality.streamed():
        for pk, h_score, n_score, label in rows.iterator(chunk_size=20000):
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


def _histogram(title: str, values: list[float], bins: int, x_label: str, value_range=None, note=""):
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=value_range)
    return HistogramFigure(
        title=title,
        edges=edges.tolist(),
        counts=counts.tolist(),
        x_label=x_label,
        y_label="posts",
        note=note,
    )


def _labels(aggregates: dict[int, quality.Aggregate]) -> dict[int, Any]:
    ready: dict[Any, Any] = {}  # json_ready once per distinct label
    return {
        pk: ready[agg.label]
        if agg.label in ready
        else ready.setdefault(agg.label, json_ready(agg.label))
        for pk, agg in aggregates.items()
    }


def _annotator_names(frame: pd.DataFrame) -> dict[int, str]:
    if frame.empty:
        return {}
    return {
        pk: Participant.name_of(source, external_id)
        for pk, source, external_id in Participant.objects.filter(
            pk__in=frame["worker"].unique().tolist()
        ).values_list("pk", "source", "external_id")
    }


def _fmt(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else ("—" if value is None else value)


NO_REACTION_LABELS = "no answered post has a reaction label yet"


def _method_metrics(group: str, name: str, key: str, c: quality.Comparison) -> list[Metric]:
    missing = NO_REACTION_LABELS if c.n == 0 else ""
    return [
        Metric(
            key=f"{key}_precision",
            label=f"{name} precision",
            value=c.precision,
            group=group,
            note=missing,
            interval=c.precision_interval,
            interval_label="95% Wilson CI",
            help=PRECISION_HELP,
        ),
        Metric(
            key=f"{key}_recall",
            label=f"{name} recall",
            value=c.recall,
            group=group,
            note=missing,
            interval=c.recall_interval,
            interval_label="95% Wilson CI",
            help=RECALL_HELP,
        ),
        Metric(
            key=f"{key}_f1",
            label=f"{name} F1",
            value=c.f1,
            group=group,
            note=missing,
            help=F1_HELP,
        ),
        Metric(
            key=f"{key}_n",
            label="Posts compared",
            value=c.n,
            group=group,
            note="answered posts with a reaction label",
            help="The posts the three figures beside it are computed on.",
        ),
    ]


def _k_metric(meta: dict, group: str) -> Metric:
    """K as applied, saying so when the corpus capped the setting."""
    k, used = meta.get("k"), meta.get("k_used", meta.get("k"))
    capped = used is not None and k is not None and used != k
    return Metric(
        key="k",
        label="Posts per reaction label (K)",
        value=used,
        group=group,
        note=(
            f"capped from {k:,}: half the {meta.get('posts_with_reactions', 0):,} posts with "
            "reactions"
            if capped
            else ("" if used is not None else "no scores computed yet")
        ),
        help="Top-K by HS are humorous, K more non-humorous (CHoRaL: about 20,000 each).",
    )


def _words(value: Any, choices: dict[str, str] | None = None) -> Any:
    """A setting's value as the table shows it: choices by name, lists joined."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d.*", value):
        return value[:16].replace("T", " ")  # an ISO time, to the minute
    if choices and value in choices:
        return f"{choices[value]} ({value})"
    return value


def _choice_labels(field: str) -> dict[str, str]:
    extra = Config.model_fields[field].json_schema_extra
    labels = extra.get("choice_labels") if isinstance(extra, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


# The score settings behind the labels: (meta key, words with the paper's symbol, help).
SETTING_ROWS = [
    ("s_version", "Reference distribution S, version", "A fingerprint of S; it changes with S."),
    (
        "s_average",
        "How S is averaged",
        "Micro: all posts' reactions pooled; macro: the mean of the posts' own shares.",
    ),
    ("reactions", "Reactions R", "HS and NS are computed over these reactions."),
    ("counted_in_t", "Counted in the total t", "t = the number of these reactions on a post."),
    ("likes_in_total", "Likes counted in t", "Whether Likes are part of t (the paper is silent)."),
    ("ns_version", "NS formula", "Which of the named non-humor score forms was used."),
    ("k", "Posts per reaction label (K), as set", "CHoRaL: about 20,000."),
    ("k_used", "K as applied", "At most half the posts with reactions."),
    ("negative_rule", "Non-humorous posts are", "Top NS or bottom HS (the sources disagree)."),
    ("seed", "Random seed", "The split and the study sample follow from it."),
    ("test_share", "Test share of the split", "Held-out share of the labelled posts."),
    ("posts_with_reactions", "Posts with reactions", "Posts with t > 0; only they get an NS."),
    ("computed_at", "Computed at", "When these scores were computed (UTC)."),
]


def _settings_table(meta: dict) -> Table:
    choices = {
        "s_average": _choice_labels("s_average"),
        "ns_version": _choice_labels("ns_version"),
        "negative_rule": _choice_labels("negative_rule"),
    }
    rows = [
        [label, _words(meta.get(key), choices.get(key)), help_text]
        for key, label, help_text in SETTING_ROWS
        if key in meta
    ]
    shares = ", ".join(f"{r} {v:.4f}" for r, v in (meta.get("S") or {}).items())
    rows.append(["S(r), the share of each reaction", shares or "—", "What NS compares with."])
    rows = [
        [a, b if isinstance(b, int | float | str) or b is None else str(b), c] for a, b, c in rows
    ]
    return Table(
        title="Score settings behind these labels",
        columns=["setting", "value", "what it means"],
        rows=rows,
        note="Change them under Settings on the Overview tab; the scores are then recomputed.",
    )


def humor_results(*, project: Project) -> Results:
    """Score histograms, human agreement, and human labels against reaction labels."""
    hs, ns, truth, label_counts = _scores(project)
    frame = quality.answers_frame(project)
    alpha = quality.krippendorff_alpha(frame, "nominal")
    majority = quality.project_aggregate(project, "majority")
    dawid_skene = quality.project_aggregate(project, "dawid_skene")
    labels, positive = ["yes", "no"], "yes"
    by_method = {
        "majority": quality.compare_to_reference(
            _labels(majority), truth, labels, positive=positive
        ),
        "dawid_skene": quality.compare_to_reference(
            _labels(dawid_skene), truth, labels, positive=positive
        ),
    }
    against_truth = quality.annotators_against_reference(frame, truth, labels, positive=positive)
    agreement = quality.annotator_agreement(frame)
    names = _annotator_names(frame)
    annotators = sorted(agreement, key=lambda w: names.get(w, str(w)))
    annotator_f1 = [
        f1 for w in annotators if against_truth[w].n and (f1 := against_truth[w].f1) is not None
    ]
    meta = (project.derived or {}).get("score_meta") or {}
    skipped = Assignment.objects.filter(
        item__project=project, item__kind=Item.Kind.REGULAR, status=Assignment.Status.SKIPPED
    ).count()
    n_annotators = int(frame["worker"].nunique()) if not frame.empty else 0

    posts, answers_group = "Posts and reaction labels", "Human answers"
    test_share = meta.get("test_share", 0.2)
    bottom_hs = meta.get("negative_rule") == "bottom_HS"
    metrics = [
        Metric(
            key="posts",
            label="Posts",
            value=len(hs),
            group=posts,
            help="Regular posts in the project; gold items are not counted.",
        ),
        _k_metric(meta, posts),
        Metric(
            key="humorous",
            label="Humorous (top HS)",
            value=label_counts["humorous"],
            group=posts,
            help=f"The K posts with the highest {HS_WORDS}.",
        ),
        Metric(
            key="non_humorous",
            label=f"Non-humorous ({'bottom HS' if bottom_hs else 'top NS'})",
            value=label_counts["non_humorous"],
            group=posts,
            help=(
                "The K posts with the lowest HS among those with reactions."
                if bottom_hs
                else "The K other posts with the highest non-humor score NS: reactions mixed "
                "like the average post's S."
            ),
        ),
        Metric(
            key="unlabelled",
            label="Without a reaction label",
            value=label_counts["unlabelled"],
            group=posts,
            help="In neither top-K set, so not in the train/test split.",
        ),
        Metric(
            key="train",
            label="Training split",
            value=meta.get("train", 0),
            group=posts,
            note="labelled posts",
            help=f"A seeded {100 - round(100 * test_share)}:{round(100 * test_share)} split of "
            "the labelled posts; models train on this part.",
        ),
        Metric(
            key="test",
            label="Test split",
            value=meta.get("test", 0),
            group=posts,
            note="labelled posts",
            help="Held out: models are scored on these posts.",
        ),
        Metric(
            key="answers",
            label="Answers counted",
            value=int(len(frame)),
            group=answers_group,
            note="blocked participants left out",
            help='"Is this post meant to be funny?" answered yes or no, on regular posts.',
        ),
        Metric(
            key="annotators",
            label="Annotators",
            value=n_annotators,
            group=answers_group,
            help="People with at least one counted answer.",
        ),
        Metric(
            key="skipped",
            label="Skipped",
            value=skipped,
            group=answers_group,
            note='answered "Not English / can\'t tell"',
            help="Skips are not answers: the post is offered to someone else.",
        ),
        Metric(
            key="krippendorff_alpha",
            label="Krippendorff's α",
            value=alpha,
            group=answers_group,
            note="nominal" if alpha is not None else "needs a post with two answers",
            help="Agreement between annotators beyond chance: 1 = all agree, 0 = chance level.",
        ),
        *_method_metrics(
            "Majority vote against reaction labels",
            "Majority-vote",
            "majority",
            by_method["majority"],
        ),
        *_method_metrics(
            "Dawid–Skene against reaction labels",
            "Dawid–Skene",
            "dawid_skene",
            by_method["dawid_skene"],
        ),
        Metric(
            key="mean_annotator_f1",
            label="Mean annotator F1",
            value=float(np.mean(annotator_f1)) if annotator_f1 else None,
            group="Each annotator against reaction labels",
            note=f"over {len(annotator_f1)} annotators" if annotator_f1 else NO_REACTION_LABELS,
            help="Each annotator's F1 against the reaction labels, averaged.",
        ),
        Metric(
            key="reference_human_f1",
            label="CHoRaL human F1 (slides)",
            value=REFERENCE_HUMAN_F1,
            group="Each annotator against reaction labels",
            note="protocol unknown; not like-for-like",
            help="Quoted in the CHoRaL talk slides, not confirmed in the paper.",
        ),
    ]

    def row(name: str, c: quality.Comparison) -> list:
        return [name, c.n, _fmt(c.precision), _fmt(c.recall), _fmt(c.f1)]

    comparison = Table(
        title="Human labels against reaction labels",
        columns=["labels", "posts", "precision", "recall", "F1"],
        rows=[
            row("Majority vote (ours)", by_method["majority"]),
            row("Dawid–Skene (ours)", by_method["dawid_skene"]),
            [
                "Mean per annotator (ours)",
                len(annotator_f1),
                "—",
                "—",
                _fmt(float(np.mean(annotator_f1)) if annotator_f1 else None),
            ],
            ["CHoRaL slides: human (reference)", "—", "—", "—", REFERENCE_HUMAN_F1],
        ],
        note=REFERENCE_NOTE,
    )
    tables = [comparison]
    for method, title in (("majority", "majority vote"), ("dawid_skene", "Dawid–Skene")):
        matrix = by_method[method].confusion
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
                "agreement with the others' majority",
                "Cohen's κ with the others' majority",
            ],
            rows=[
                [
                    names.get(w, str(w)),
                    agreement[w].answers,
                    against_truth[w].n,
                    _fmt(against_truth[w].precision),
                    _fmt(against_truth[w].recall),
                    _fmt(against_truth[w].f1),
                    _fmt(agreement[w].agreement),
                    _fmt(agreement[w].kappa),
                ]
                for w in annotators
            ],
            note="The others' majority leaves the annotator's own answer out; posts where the "
            "others tie are not compared. κ is undefined (—) when both sides use one label only.",
        )
    )
    if meta:
        tables.append(_settings_table(meta))

    answer_counts = frame["label"].value_counts().to_dict() if not frame.empty else {}
    figures: list = [
        BarFigure(
            title="Human labels against reaction labels",
            key="against-reaction-labels",
            categories=["precision", "recall", "F1"],
            series=[
                BarSeries(
                    name=name,
                    values=[c.precision, c.recall, c.f1],
                    lower=[
                        *(i[0] if i else None for i in (c.precision_interval, c.recall_interval)),
                        None,
                    ],
                    upper=[
                        *(i[1] if i else None for i in (c.precision_interval, c.recall_interval)),
                        None,
                    ],
                )
                for name, c in (
                    ("majority vote", by_method["majority"]),
                    ("Dawid–Skene", by_method["dawid_skene"]),
                )
            ],
            y_label="score (positive class: funny)",
            y_range=(0.0, 1.05),
            references=[ReferenceLine(value=REFERENCE_HUMAN_F1, label="CHoRaL human F1, slides")],
            note="Whiskers: 95% Wilson intervals of precision and recall (F1 has none in closed "
            "form). The dashed line is the CHoRaL slides' human F1, whose protocol is unknown.",
        ),
        _histogram(
            "Humor score (HS) of all posts",
            hs,
            HS_BINS,
            "humor score HS = (h/t)·tanh(t/50)",
            (0.0, 1.0),
        ),
        _histogram(
            f"Non-humor score (NS, {meta.get('ns_version', '?')}) of posts with reactions",
            ns,
            NS_BINS,
            "non-humor score NS",
        ),
        BarFigure(
            title="Reaction labels",
            categories=["humorous", "non-humorous", "unlabelled"],
            series=[
                BarSeries(
                    name="posts",
                    values=[
                        label_counts["humorous"],
                        label_counts["non_humorous"],
                        label_counts["unlabelled"],
                    ],
                )
            ],
            y_label="posts",
            counts=True,
        ),
        BarFigure(
            title="Human answers",
            categories=["yes", "no", "skipped"],
            series=[
                BarSeries(
                    name="answers",
                    values=[
                        int(answer_counts.get("yes", 0)),
                        int(answer_counts.get("no", 0)),
                        skipped,
                    ],
                )
            ],
            y_label="answers",
            counts=True,
        ),
    ]
    scored = [
        w
        for w in annotators
        if against_truth[w].n
        and agreement[w].agreement is not None
        and against_truth[w].f1 is not None
    ]
    if scored:
        figures.append(
            ScatterFigure(
                title="Annotators: agreement with the others against F1",
                key="annotators",
                x=[float(agreement[w].agreement or 0.0) for w in scored],
                y=[float(against_truth[w].f1 or 0.0) for w in scored],
                labels=[names.get(w, str(w)) for w in scored],
                x_label="agreement with the others' majority",
                y_label="F1 against reaction labels",
                x_range=(-0.03, 1.05),
                y_range=(-0.03, 1.05),
                note="One point per annotator. Low on both axes: a careless or adversarial "
                "annotator (see the Quality tab to block one).",
            )
        )
    notes = [protocol_note(project.overlap), REFERENCE_NOTE]
    return Results(metrics=metrics, tables=tables, figures=figures, notes=notes)
