"""The SituatedQA exports: the official id_data, qa_data and raw_data layouts, per variant.

Each is a record set (JSONL and CSV like every export) with a native download that writes
the release's bytes (``formats.dumps_official``: its keys in its order, its value types,
``json.dumps`` defaults) — so re-exporting an imported official file gives the same file.

- **id_data**: one row per stage-1 question, in import order: the crowd's decision where
  stage 1 has decided (dependent → "yes", not dependent → "no"; a malformed question is left
  out), else the imported official row as it was; questions with neither are left out.
- **qa_data**: the imported official rows (finished contexts) as they were, then the rows the
  crowd's validated answers make (``selectors.Question.pairs``, flattened as the release
  flattens raw_data) for contexts the imported rows do not already have.
- **raw_data**: the crowd's work per decided question in the raw_data layout — its timelines
  (temporal) or pairs (geographic) and final contexts — with what each stage said beside
  the release's keys: ``decision``, ``identify_answers`` and ``collected`` (every stage-2
  response with its validations and outcome). Participants appear as ``p<number>``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import islice

from apps.core.models import Project
from apps.core.registry import NativeFormat, RecordSet
from ml.situatedqa import formats

from . import selectors
from .schemas import VARIANT_LABELS, VARIANTS, config_of

NATIVE_BATCH = 500
RAW_EXTRAS = ["decision", "identify_answers", "collected"]


def _columns(layout: str, variant: str, extras: Iterable[str] = ()) -> list[str]:
    return [f.name for f in formats.SCHEMAS[(layout, variant)]] + list(extras)  # type: ignore[index]


def id_records(project: Project, *, variant: str) -> Iterator[dict]:
    for q in selectors.questions(project, variant=variant):
        official = (q.payload.get("official") or {}).get("id_row")
        decision = q.decision
        if decision in (selectors.DEPENDENT, selectors.NOT_DEPENDENT):
            label = "yes" if decision == selectors.DEPENDENT else "no"
            if isinstance(official, dict):
                row = {**official, "is_dependent": label}
            else:
                row = formats.id_row(
                    variant=variant,  # type: ignore[arg-type]
                    question=q.text,
                    id=q.qid,
                    is_dependent=decision == selectors.DEPENDENT,
                    source_dataset=q.payload.get("source_dataset"),
                )
        elif isinstance(official, dict):
            row = official
        else:
            continue
        yield formats.official_order(row, layout="id", variant=variant)  # type: ignore[arg-type]


def qa_records(project: Project, *, variant: str) -> Iterator[dict]:
    config = config_of(project)
    finished_answers: dict[str, list[list[str]]] = defaultdict(list)
    have: set[tuple] = set()
    for row in selectors.finished_rows(project, variant):
        finished_answers[str(row["id"])].append(row["answer"])
        have.add(selectors.context_key(row, variant))
        yield formats.official_order(row, layout="qa", variant=variant)  # type: ignore[arg-type]
    for q in selectors.questions(project, variant=variant):
        pairs = q.pairs(config)
        if not pairs:
            continue
        raw = {"question": q.text, "id": q.qid, "context_answer_pairs": pairs}
        rows = [
            r
            for r in formats.qa_rows_from_raw(raw, variant=variant)  # type: ignore[arg-type]
            if selectors.context_key(r, variant) not in have
        ]
        union = formats.any_answers(
            [*finished_answers.get(str(q.qid), []), *(r["answer"] for r in rows)]
        )
        for row in rows:
            row["any_answer"] = list(union)
            yield formats.official_order(row, layout="qa", variant=variant)  # type: ignore[arg-type]


def _collected(q: selectors.Question) -> list[dict]:
    return [
        {
            "participant": f"p{c.answer.participant}",
            "outcome": c.outcome,
            "response": c.answer.value,
            "validations": [{"participant": f"p{v.participant}", **v.value} for v in c.validations],
        }
        for c in q.collected
    ]


def raw_records(project: Project, *, variant: str) -> Iterator[dict]:
    config = config_of(project)
    for q in selectors.questions(project, variant=variant):
        decision = q.decision
        if decision is None:
            continue
        dependent = decision == selectors.DEPENDENT
        extras = {
            "decision": selectors.DECISION_LABELS[decision],
            "identify_answers": [
                {"participant": f"p{v.participant}", "dependent": v.value["dependent"]}
                for v in q.votes
            ],
            "collected": _collected(q),
        }
        pairs = q.pairs(config)
        if variant == "temp":
            timelines = q.timelines
            nq = list(q.payload.get("nq_answers") or [])
            row: dict = {
                "question": q.text,
                "id": q.qid,
                "nq_answers": nq,
                "timelines": [
                    {**t.as_raw(), "list_answer": t.list_answer, "article_title": t.article_title}
                    for t in timelines
                ]
                if dependent
                else None,
                "cur_answers": formats.any_answers([[t.cur_answer] for t in timelines])
                if dependent
                else (nq if decision == selectors.NOT_DEPENDENT else None),
                "prev_answers": formats.any_answers(
                    [[t.prev_answer] for t in timelines if t.prev_answer]
                )
                if dependent
                else None,
                "is_dependent": dependent,
                "context_answer_pairs": pairs,
            }
        else:
            given = q.given
            row = {
                "question": q.text,
                "id": q.qid,
                "nq_question": q.payload.get("nq_question") or q.text,
                "nq_context_answer_pair": {
                    "location": given["location"],
                    "answers": list(given.get("answers") or []),
                    "is_valid": q.given_valid,
                }
                if given
                else {},
                "context_answer_pairs": pairs,
                "is_dependent": dependent,
            }
        row.update(extras)
        yield formats.official_order(row, layout="raw", variant=variant)  # type: ignore[arg-type]


RECORDS = {"id": id_records, "qa": qa_records, "raw": raw_records}


def native_writer(project: Project, *, layout: str, variant: str) -> Iterator[bytes]:
    """The official file's bytes, written a batch of rows at a time."""
    rows = iter(RECORDS[layout](project, variant=variant))
    while batch := list(islice(rows, NATIVE_BATCH)):
        yield formats.dumps_official(batch, layout=layout, variant=variant)  # type: ignore[arg-type]


DESCRIPTIONS = {
    "id": "One row per question: the crowd's stage-1 decision (yes/no) where it has decided, "
    "else the imported official row as it was. Official layout: question, (source_dataset), "
    "is_dependent, id.",
    "qa": "The imported official (context, answer) rows as they were, then the contexts the "
    "crowd's validated answers make, with edited_question built as the release builds it.",
    "raw": "The crowd's work per decided question in the raw_data layout (timelines or "
    "location pairs, final contexts), with every stage's answers beside it.",
}


def _extras(layout: str, variant: str) -> list[str]:
    if layout != "raw":
        return []
    return RAW_EXTRAS if variant == "temp" else ["is_dependent", *RAW_EXTRAS]


def _record_set(layout: str, variant: str) -> RecordSet:
    return RecordSet(
        key=f"{layout}_data-{variant}",
        title=f"{layout}_data/{variant} ({VARIANT_LABELS[variant].lower()}, official layout)",
        description=DESCRIPTIONS[layout],
        columns=_columns(layout, variant, _extras(layout, variant)),
        records=partial(RECORDS[layout], variant=variant),
        native=NativeFormat(
            title="Official JSONL",
            extension="jsonl",
            content_type="application/x-ndjson; charset=us-ascii",
            write=partial(native_writer, layout=layout, variant=variant),
        ),
    )


RECORD_SETS = [_record_set(layout, v) for layout in ("id", "qa", "raw") for v in VARIANTS]
