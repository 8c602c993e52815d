"""The SituatedQA results page: each stage's progress and agreement, the share of questions
found dependent, the crowd against the official labels and answers, and timelines.

Every number comes from ``selectors`` (answers of participants who are not blocked). The
final answers are scored with the paper's exact match (``ml.situatedqa.evaluate``) against the
official qa_data rows the project holds — imported qa_data rows, and the contexts of imported
raw_data questions — where the crowd made the same context of the same question (same id
and ``edited_question``), broken down as the paper's tables are and printed ``k / n = pct``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from django.urls import reverse

from apps.core.models import Project
from apps.core.quality import compare_to_reference, krippendorff_alpha, proportion_interval
from apps.core.registry import Metric, Results, Table
from apps.core.results import BarFigure, BarSeries, Link, TimelineFigure, TimeSpan
from ml.situatedqa import evaluate, formats

from . import contexts, selectors
from .evaluation import cells_of, last_evaluations, model_vs_crowd
from .models import Evaluation
from .schemas import (
    DEPENDENT_CHOICES,
    DEPENDENT_LABELS,
    STAGE_LABELS,
    VARIANT_LABELS,
    VARIANTS,
    Config,
    config_of,
)

TIMELINE_FIGURES = 4
TABLE_ROWS = 60
OUTCOME_LABELS = {
    "accepted": "accepted",
    "corrected": "corrected by the validator",
    "rejected": "rejected",
    "pending": "awaiting validation",
}


def stage1_frame(questions: list[selectors.Question]) -> pd.DataFrame:
    """Stage-1 answers as (task, worker, label) for the core's Krippendorff's alpha."""
    rows = [(q.item_id, v.participant, v.value["dependent"]) for q in questions for v in q.votes]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def official_qa_rows(project: Project, variant: str, questions) -> list[dict]:
    """The official rows the project holds: imported qa_data rows, then the contexts of
    imported raw_data questions (``formats.qa_rows_from_raw``); a row held twice counts once."""
    rows, seen = [], set()
    candidates: list[dict] = list(selectors.finished_rows(project, variant))
    for q in questions:
        raw = (q.payload.get("official") or {}).get("raw")
        if isinstance(raw, dict):
            candidates += formats.qa_rows_from_raw(raw, variant=variant)  # type: ignore[arg-type]
    context = "date_type" if variant == "temp" else "location"
    for row in candidates:
        key = (str(row["id"]), row["edited_question"], row[context], tuple(row["answer"]))
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def crowd_answer(answers: list[str]) -> str:
    """One answer for a context the crowd answered several times: the most frequent one (in
    SQuAD normal form), the first of them on a tie."""
    counts = Counter(evaluate.normalize_answer(a) for a in answers)
    best = max(counts.values())
    return next(a for a in answers if counts[evaluate.normalize_answer(a)] == best)


def scored_rows(project: Project, variant: str, questions, config: Config) -> list[dict]:
    """The official rows the crowd also answered, each with the crowd's ``pred_answer``."""
    crowd: dict[tuple, str] = {}
    for q in questions:
        for pair in q.pairs(config):
            crowd.setdefault((q.qid, pair["edited_question"]), crowd_answer(pair["answers"]))
    return [
        {**row, "pred_answer": crowd[(row["id"], row["edited_question"])]}
        for row in official_qa_rows(project, variant, questions)
        if (row["id"], row["edited_question"]) in crowd
    ]


def _pct(k: int, n: int) -> float | None:
    return None if n == 0 else 100.0 * k / n


def _variant_metrics(v: str, qs: list[selectors.Question], config: Config) -> list[Metric]:
    label = VARIANT_LABELS[v]
    group = f"Stage 1 · {label.lower()} questions"
    decided = [q for q in qs if q.decision is not None]
    dependent = sum(q.decision == selectors.DEPENDENT for q in decided)
    interval = proportion_interval(dependent, len(decided))
    alpha = krippendorff_alpha(stage1_frame(qs), "nominal")
    with_official = [q for q in decided if q.official_dependent is not None]
    agree = sum((q.decision == selectors.DEPENDENT) == q.official_dependent for q in with_official)
    metrics = [
        Metric(
            key=f"decided_{v}",
            label="Questions decided",
            value=len(decided),
            group=group,
            note=f"of {len(qs)} questions; a decision needs {config.identify_answers} answers",
        ),
        Metric(
            key=f"dependent_share_{v}",
            label="Found dependent (%)",
            value=_pct(dependent, len(decided)),
            group=group,
            digits=1,
            interval=None if interval is None else (100 * interval[0], 100 * interval[1]),
            interval_label="95% Wilson CI",
            note=f"{dependent} of {len(decided)} decided questions"
            if decided
            else "no question decided yet",
            help="At least half of a question's answers said Yes (a tie counts as dependent).",
        ),
        Metric(
            key=f"alpha_{v}",
            label="Agreement (Krippendorff's α, nominal)",
            value=alpha,
            group=group,
            note=f"over the 4 choices of {len(qs)} questions"
            if alpha is not None
            else "needs questions with two or more answers",
            help="1 = everyone agrees, 0 = agreement no better than chance.",
        ),
        Metric(
            key=f"official_agreement_{v}",
            label="Decisions equal to the official label (%)",
            value=_pct(agree, len(with_official)),
            group=group,
            digits=1,
            note=f"{agree} of {len(with_official)} questions with an official label"
            if with_official
            else "no decided question has an official label",
            help="A malformed decision counts as not dependent.",
        ),
    ]
    collected = [c for q in qs for c in q.collected]
    outcomes = Counter(c.outcome for c in collected)
    validated = len(collected) - outcomes["pending"]
    group = f"Stages 2 and 3 · {label.lower()} questions"
    metrics += [
        Metric(
            key=f"collected_{v}", label="Responses collected", value=len(collected), group=group
        ),
        Metric(
            key=f"accepted_{v}",
            label="Accepted by the validator (%)",
            value=_pct(outcomes["accepted"], validated),
            group=group,
            digits=1,
            note=f"{outcomes['accepted']} of {validated} validated; {outcomes['corrected']} "
            f"corrected, {outcomes['rejected']} rejected, {outcomes['pending']} awaiting"
            if validated
            else "no response validated yet",
        ),
        Metric(
            key=f"contexts_{v}",
            label="Final (context, answer) rows",
            value=sum(len(q.pairs(config)) for q in qs),
            group=group,
            help="The rows the qa_data export adds (before leaving out contexts imported "
            "qa_data already has).",
        ),
    ]
    return metrics


def _progress_table(project: Project) -> Table:
    counts = selectors.stage_counts(project)
    return Table(
        title="Progress per stage",
        columns=["Stage", "Variant", "Items", "Complete", "Answers", "Answers wanted per item"],
        rows=[
            [
                STAGE_LABELS.get(c.stage, c.stage),
                VARIANT_LABELS.get(c.variant, c.variant or "—"),
                c.items,
                c.complete,
                c.answers,
                "varies" if c.wanted is None else c.wanted,
            ]
            for c in counts
        ],
        note="A stage-2 item appears once its question is found dependent; a stage-3 item for "
        "each stage-2 response, never offered to the person who gave it.",
    )


def _official_table(by_variant: dict[str, list[selectors.Question]]) -> Table | None:
    rows = []
    for v, qs in by_variant.items():
        pred = {q.item_id: q.decision == selectors.DEPENDENT for q in qs if q.decision}
        ref = {q.item_id: q.official_dependent for q in qs if q.official_dependent is not None}
        result = compare_to_reference(pred, ref, [True, False], positive=True)
        if result.n:
            rows.append(
                [
                    VARIANT_LABELS[v],
                    result.n,
                    _fmt(result.accuracy),
                    _fmt(result.precision),
                    _fmt(result.recall),
                    _fmt(result.f1),
                ]
            )
    if not rows:
        return None
    return Table(
        title="Stage-1 decisions against the official labels",
        columns=["Variant", "Questions", "Accuracy", "Precision", "Recall", "F1"],
        rows=rows,
        note="Precision, recall and F1 of the class \u201cdependent\u201d (scikit-learn), over the "
        "decided questions the official release labels.",
    )


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


CELL_NAMES = {
    "static": "static (orig)",
    "sampled": "sampled",
    "start": "start",
    "total": "total",
    "any": "any (any_answer)",
    "common": "common locations",
    "rare": "rare locations",
}


def _em_table(v: str, rows: list[dict]) -> tuple[Table, int]:
    cells = evaluate.report(rows, variant=v)  # type: ignore[arg-type]
    return (
        Table(
            title=f"Exact match of the crowd's final answers, {VARIANT_LABELS[v].lower()} "
            "(against the official qa_data rows)",
            columns=["Answers", *(CELL_NAMES[c] for c in cells)],
            rows=[["Crowd (final answers)", *(str(score) for score in cells.values())]],
            note="SQuAD-normalised exact match as the paper scores it, k / n = %, over the "
            "official rows whose question id and context (edited_question) the crowd's final "
            "rows also have; a context answered by several people counts the most frequent "
            "answer. "
            + (
                "Static = orig, sampled = sampled_year and sampled_date, start = the start "
                "of an answer"
                if v == "temp"
                else "Common = the 28 locations of the official evaluation, rare = the rest"
            )
            + "; any = against any_answer (every answer of the question).",
        ),
        len(rows),
    )


def _model_tables(v: str, last: Evaluation, crowd_rows: list[dict]) -> list[Table]:
    """The uploaded predictions' exact match, and the model against the crowd where both
    answered the same official rows."""
    label = VARIANT_LABELS[v].lower()
    cells = cells_of(last.cells)
    tables = [
        Table(
            title=f"Exact match of the uploaded predictions, {label} (against every final row)",
            columns=["Predictions", *(CELL_NAMES[c] for c in cells)],
            rows=[[last.filename, *(str(score) for score in cells.values())]],
            note=f"Uploaded {last.created_at:%Y-%m-%d %H:%M}; scored against the imported "
            "official rows and the crowd's final rows. "
            f"{last.missing_count} final rows had no prediction (counted wrong), "
            f"{last.unknown_count} prediction lines matched no final row.",
        )
    ]
    comparison = model_vs_crowd(last, crowd_rows)
    if comparison is not None:
        tables.append(
            Table(
                title=f"Model vs. crowd on the same questions, {label}",
                columns=["Answers", *(CELL_NAMES[c] for c in comparison.model)],
                rows=[
                    [f"Model ({last.filename})", *map(str, comparison.model.values())],
                    ["Crowd (final answers)", *map(str, comparison.crowd.values())],
                ],
                note=f"Exact match on the {comparison.rows} official rows that the crowd's "
                "final rows share (same id and edited_question) and the model predicted; "
                "both scored against the official answers.",
            )
        )
    return tables


def _span_rows(t: contexts.Timeline, row: str, end: float) -> list[TimeSpan]:
    spans = []
    cur = t.cur_start.decimal_year
    if t.prev_answer is not None and t.prev_start is not None:
        spans.append(
            TimeSpan(row=row, label=t.prev_answer, start=t.prev_start.decimal_year, end=cur)
        )
    spans.append(TimeSpan(row=row, label=t.cur_answer, start=cur, end=max(end, cur + 0.5)))
    return spans


def _official_timelines(q: selectors.Question) -> list[contexts.Timeline]:
    raw = (q.payload.get("official") or {}).get("raw") or {}
    out = []
    for t in raw.get("timelines") or []:
        value = {
            "cur_missing": not t.get("cur_answers"),
            "cur_answer": (t.get("cur_answers") or [None])[0],
            "cur_answer_start": formats.format_date(t.get("cur_start")),
            "prev_missing": not t.get("prev_answers"),
            "prev_answer": (t.get("prev_answers") or [None])[0],
            "prev_answer_start": formats.format_date(t.get("prev_start")),
        }
        if (timeline := contexts.timeline_of(value)) is not None:
            out.append(timeline)
    return out


def _timeline_figure(q: selectors.Question, config: Config) -> TimelineFigure | None:
    crowd, official = q.timelines, _official_timelines(q)
    if not crowd:
        return None
    end = config.present_year + 1.0
    rows, spans = [], []
    for n, t in enumerate(crowd, start=1):
        rows.append(f"Crowd {n}")
        spans += _span_rows(t, rows[-1], end)
    for n, t in enumerate(official, start=1):
        rows.append(f"Official {n}")
        spans += _span_rows(t, rows[-1], end)
    title = q.text if len(q.text) <= 70 else q.text[:69] + "…"
    return TimelineFigure(
        key=f"timeline-{q.item_id}",
        title=f"Timeline: {title}",
        rows=rows,
        spans=spans,
        note="Which answer held when: each validated response of the crowd, and the official "
        "timelines where the question came from raw_data. The same answer has the same colour.",
    )


def _timeline_text(t: contexts.Timeline) -> str:
    now = f"{t.cur_answer} (since {t.cur_full})"
    if t.prev_answer is None:
        return now
    return f"{t.prev_answer} (since {t.prev_full}) → {now}"


def _timeline_table(qs: list[selectors.Question]) -> Table | None:
    rows = []
    for q in qs:
        if not q.collected:
            continue
        for c in q.collected:
            t = contexts.timeline_of(c.final or c.answer.value)
            official = "; ".join(_timeline_text(o) for o in _official_timelines(q)) or "—"
            rows.append(
                [q.text, _timeline_text(t) if t else "missing", OUTCOME_LABELS[c.outcome], official]
            )
    if not rows:
        return None
    return Table(
        title="Timelines collected (temporal)",
        columns=["Question", "Crowd response (after validation)", "Validation", "Official"],
        rows=rows[:TABLE_ROWS],
        note=f"The first {TABLE_ROWS} responses." if len(rows) > TABLE_ROWS else "",
    )


def _pairs_table(qs: list[selectors.Question]) -> Table | None:
    rows = []
    for q in qs:
        for c in q.collected:
            value = c.final or c.answer.value
            given = q.given
            verified = {"yes": "right", "no": "wrong", None: "—"}[value.get("orig_is_correct")]
            new = "; ".join(f"{p['location']}: {p['answer']}" for p in value.get("pairs") or [])
            if value.get("no_other"):
                new = (new + "; " if new else "") + "no other location differs"
            rows.append(
                [
                    q.text,
                    f"{given['location']}: {', '.join(given.get('answers') or [])}"
                    if given
                    else "—",
                    verified,
                    new or "—",
                    OUTCOME_LABELS[c.outcome],
                ]
            )
    if not rows:
        return None
    return Table(
        title="Locations collected (geographic)",
        columns=["Question", "Given pair", "Given pair is", "New pairs", "Validation"],
        rows=rows[:TABLE_ROWS],
        note=f"The first {TABLE_ROWS} responses." if len(rows) > TABLE_ROWS else "",
    )


def _votes_figure(by_variant: dict[str, list[selectors.Question]]) -> BarFigure | None:
    counts = {v: Counter(label for q in qs for label in q.labels) for v, qs in by_variant.items()}
    if not any(counts.values()):
        return None
    return BarFigure(
        key="identify_answers",
        title="Stage-1 answers: is the answer context-dependent?",
        categories=[DEPENDENT_LABELS[c] for c in DEPENDENT_CHOICES],
        series=[
            BarSeries(name=VARIANT_LABELS[v], values=[counts[v][c] for c in DEPENDENT_CHOICES])
            for v in by_variant
        ],
        y_label="answers",
        counts=True,
    )


def situatedqa_results(*, project: Project) -> Results:
    config = config_of(project)
    everyone = selectors.questions(project)
    present = {q.variant for q in everyone}
    by_variant: dict[str, list[selectors.Question]] = {
        v: [q for q in everyone if q.variant == v]
        for v in VARIANTS
        if v in present or config.runs(v)
    }
    results = Results(tables=[_progress_table(project)])
    figure = _votes_figure(by_variant)
    if figure is not None:
        results.figures.append(figure)
    scored: dict[str, Any] = {}
    evaluations = last_evaluations(project)
    for v, qs in by_variant.items():
        results.metrics += _variant_metrics(v, qs, config)
        crowd_rows = scored_rows(project, v, qs, config)
        table, n = _em_table(v, crowd_rows)
        scored[v] = n
        results.tables.append(table)
        if v in evaluations:
            results.tables += _model_tables(v, evaluations[v], crowd_rows)
    results.links.append(
        Link(
            label="Evaluate a QA model's predictions",
            url=reverse("situatedqa:evaluate", args=[project.slug]),
            note="upload a predictions JSONL for the paper's exact match; the last one is "
            "scored next to the crowd on this page",
        )
    )
    official = _official_table(by_variant)
    if official is not None:
        results.tables.insert(1, official)
    temp = by_variant.get("temp", [])
    for q in [q for q in temp if q.timelines][:TIMELINE_FIGURES]:
        if (fig := _timeline_figure(q, config)) is not None:
            results.figures.append(fig)
    for listing in (_timeline_table(temp), _pairs_table(by_variant.get("geo", []))):
        if listing is not None:
            results.tables.append(listing)
    if not everyone:
        results.notes.append("No questions yet: import some on the Data tab.")
    for v, n in scored.items():
        if by_variant[v] and n == 0:
            results.notes.append(
                f"No {VARIANT_LABELS[v].lower()} final answer shares a context with an official "
                "qa_data row yet, so there is no exact match to show: import the official "
                "qa_data or raw_data of these questions to score them."
            )
    return results
