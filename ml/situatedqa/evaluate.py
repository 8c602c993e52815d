"""SituatedQA exact match and the paper's breakdowns, written from the spec (PROTOCOLS.md §4.3).

The released ``eval/temp_eval.py`` and ``eval/geo_eval.py`` do not run (a missing ``=``,
undefined names, a signature mismatch), so nothing here imports them; this module does what
they were meant to do:

- an answer is normalised as DrQA/SQuAD do — Unicode NFD, lower case, every
  ``string.punctuation`` character removed, the articles a/an/the removed, whitespace
  collapsed — and a prediction is right when its normal form equals the normal form of any
  gold answer;
- temporal rows are broken down by ``date_type``: **static** (``orig``), **sampled**
  (``sampled_year`` and ``sampled_date``), **start**, **total**; geographic rows by location:
  **common** (its normal form is one of the 28 below) and **rare**; both add **any**, the
  same EM against ``any_answer`` (every answer of the question, whatever the context);
- each cell prints as ``k / n = pct`` with one decimal.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .formats import (
    SAMPLED_DATE,
    SAMPLED_YEAR,
    START,
    STATIC,
    Source,
    Variant,
    parse_jsonl,
    row_problems,
)

# The geographic "common" locations of the official evaluation, in its order (§4.3).
COMMON_LOCATIONS = (
    "united states",
    "india",
    "united kingdom",
    "australia",
    "canada",
    "china",
    "new york",
    "florida",
    "japan",
    "england",
    "uk",
    "germany",
    "spain",
    "georgia",
    "france",
    "new york city",
    "alabama",
    "russia",
    "kentucky",
    "ohio",
    "us",
    "california",
    "texas",
    "pakistan",
    "mexico",
    "new zealand",
    "usa",
    "israel",
)
_COMMON = frozenset(COMMON_LOCATIONS)

TEMPORAL_CELLS = ("static", "sampled", "start", "total", "any")
GEOGRAPHIC_CELLS = ("common", "rare", "total", "any")

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """The SQuAD/DrQA normal form the official scorer compares (NFD first, as DrQA does)."""
    text = unicodedata.normalize("NFD", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str | None, golds: Iterable[str]) -> bool:
    """True when the prediction's normal form is that of one gold answer (None is wrong)."""
    if prediction is None:
        return False
    guess = normalize_answer(prediction)
    return any(guess == normalize_answer(g) for g in golds)


def is_common_location(location: str) -> bool:
    """Whether a row's location is one of the 28 common ones (compared in normal form)."""
    return normalize_answer(location) in _COMMON


@dataclass(frozen=True)
class Score:
    correct: int
    total: int

    @property
    def pct(self) -> float | None:
        return 100.0 * self.correct / self.total if self.total else None

    def __str__(self) -> str:
        pct = "n/a" if self.pct is None else f"{self.pct:.1f}"
        return f"{self.correct} / {self.total} = {pct}"


def _score(rows: Sequence[Mapping[str, Any]], key: str = "answer") -> Score:
    right = sum(exact_match(r.get("pred_answer"), r[key]) for r in rows)
    return Score(right, len(rows))


def temporal_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Score]:
    """static / sampled / start / total / any of qa_data/temp rows carrying ``pred_answer``."""
    by_type = {
        "static": [r for r in rows if r["date_type"] == STATIC],
        "sampled": [r for r in rows if r["date_type"] in (SAMPLED_YEAR, SAMPLED_DATE)],
        "start": [r for r in rows if r["date_type"] == START],
    }
    cells = {name: _score(part) for name, part in by_type.items()}
    cells["total"] = _score(rows)
    cells["any"] = _score(rows, "any_answer")
    return cells


def geographic_report(rows: Sequence[Mapping[str, Any]]) -> dict[str, Score]:
    """common / rare / total / any of qa_data/geo rows carrying ``pred_answer``."""
    common = [r for r in rows if is_common_location(r["location"])]
    rare = [r for r in rows if not is_common_location(r["location"])]
    return {
        "common": _score(common),
        "rare": _score(rare),
        "total": _score(rows),
        "any": _score(rows, "any_answer"),
    }


def report(rows: Sequence[Mapping[str, Any]], *, variant: Variant) -> dict[str, Score]:
    return temporal_report(rows) if variant == "temp" else geographic_report(rows)


def format_report(cells: Mapping[str, Score]) -> str:
    """One ``name: k / n = pct`` line per cell, in the paper's order."""
    return "\n".join(f"{name}: {score}" for name, score in cells.items())


# ----------------------------------------------------------------------- prediction files


@dataclass(frozen=True)
class Unmatched:
    """A row on one side with no partner on the other: its line there, id and question."""

    line: int
    id: int | str
    edited_question: str
    reason: str = ""


@dataclass
class Predictions:
    """Gold rows with their ``pred_answer`` (None where none came), and what did not match.

    ``rows`` always holds every gold row, so a missing prediction counts as wrong and the
    totals stay those of the split; ``missing`` names the gold rows that got none,
    ``unknown`` the prediction lines that name no gold row.
    """

    rows: list[dict[str, Any]]
    missing: list[Unmatched] = field(default_factory=list)
    unknown: list[Unmatched] = field(default_factory=list)

    def problems_text(self) -> str:
        lines = [
            f"missing: gold line {m.line}: id {m.id} {m.edited_question!r}" for m in self.missing
        ]
        lines += [
            f"unknown: line {u.line}: id {u.id} {u.edited_question!r} ({u.reason})"
            for u in self.unknown
        ]
        return "\n".join(lines)


def _prediction_problems(row: Any, *, variant: Variant, with_gold: bool) -> list[str]:
    if not isinstance(row, dict):
        return ["each line must be a JSON object"]
    if with_gold:
        problems = [f'missing "{k}"' for k in ("id", "edited_question") if k not in row]
    else:
        problems = row_problems(row, layout="qa", variant=variant)
    if "pred_answer" not in row:
        problems.append('missing "pred_answer"')
    elif not isinstance(row["pred_answer"], str):
        problems.append('"pred_answer" must be a string')
    return problems


def _context_key(variant: Variant) -> str:
    return "date_type" if variant == "temp" else "location"


def read_predictions(
    source: Source, *, variant: Variant, gold: Sequence[Mapping[str, Any]] | None = None
) -> Predictions:
    """A predictions JSONL (dataset rows plus ``"pred_answer"``), matched to ``gold``.

    With ``gold`` (the official qa rows), a prediction is matched to a gold row by ``id`` and
    ``edited_question`` — and by ``date_type``/``location`` when the line has it, since the
    release repeats an ``edited_question`` under two date types or two spellings of a
    place — taking repeated rows in file order; answers come from the gold rows, never from
    the upload. Without ``gold`` the file's own rows (full qa rows) are scored. Malformed
    lines raise ``FormatError`` naming each.
    """
    parsed = parse_jsonl(
        source,
        validate=lambda r: _prediction_problems(r, variant=variant, with_gold=gold is not None),
    )
    if gold is None:
        return Predictions(rows=[dict(row) for _, row in parsed])
    return _match(parsed, gold, context=_context_key(variant))


def _match(
    parsed: Sequence[tuple[int, dict[str, Any]]],
    gold: Sequence[Mapping[str, Any]],
    *,
    context: str,
) -> Predictions:
    open_rows: dict[tuple[Any, str], list[int]] = {}
    for index, row in enumerate(gold):
        open_rows.setdefault((row["id"], row["edited_question"]), []).append(index)
    known_ids = {row["id"] for row in gold}
    answers: dict[int, str] = {}
    unknown: list[Unmatched] = []
    for line, pred in parsed:
        candidates = open_rows.get((pred["id"], pred["edited_question"]), [])
        wanted = pred.get(context)
        hit = next((i for i in candidates if wanted is None or gold[i][context] == wanted), None)
        if hit is None:
            reason = _unmatched_reason(pred, known_ids, candidates)
            unknown.append(Unmatched(line, pred["id"], pred["edited_question"], reason))
            continue
        candidates.remove(hit)
        answers[hit] = pred["pred_answer"]
    rows = [{**row, "pred_answer": answers.get(i)} for i, row in enumerate(gold)]
    missing = [
        Unmatched(i + 1, row["id"], row["edited_question"])
        for i, row in enumerate(gold)
        if i not in answers
    ]
    return Predictions(rows=rows, missing=missing, unknown=unknown)


def _unmatched_reason(pred: Mapping[str, Any], known_ids: set[Any], candidates: list[int]) -> str:
    if pred["id"] not in known_ids:
        return "unknown id"
    if candidates:
        return "no gold row with this context"
    return "no gold row with this question, or already predicted"
