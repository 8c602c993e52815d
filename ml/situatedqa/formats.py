"""The official SituatedQA files, read and written byte for byte, and the rules that build rows.

Layouts (PROTOCOLS.md §4.2, checked against the released train/dev files):

- ``id_data/{temp,geo}.*.jsonl``: ``question``, (``source_dataset``, temporal only),
  ``is_dependent`` ("yes" | "no" strings), ``id`` — in that key order.
- ``qa_data/temp.*.jsonl``: ``question, id, edited_question, date, date_type, answer,
  any_answer``; ``qa_data/geo.*.jsonl``: the same with ``location`` for ``date, date_type``.
- ``raw_data/temp.*.jsonl``: ``question, id, nq_answers, timelines, cur_answers,
  prev_answers, is_dependent, context_answer_pairs`` — but where ``timelines`` is null the
  release writes it after ``prev_answers``, and the writer does the same.
- ``raw_data/geo.*.jsonl``: ``question, orig_label`` (dev/test only) ``, id, nq_question,
  nq_context_answer_pair, context_answer_pairs``.

Every released line is ``json.dumps(row)`` with the defaults (``", "``/``": "`` separators,
``ensure_ascii=True``) plus ``"\\n"``. Rows are kept as parsed dicts: values keep the types
found (int ids, bool ``is_dependent`` in raw_data, nulls), strings keep their mojibake
(``Garbi\\u00c3\\u00b1e``) — the scorer normalises, the files never do. The writer puts known
keys in the official order (a database's JSON column may not keep key order) and any other
keys after them, so re-writing an official file gives the same bytes.
"""

from __future__ import annotations

import ast
import calendar
import codecs
import csv
import gzip
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

Variant = Literal["temp", "geo"]
Layout = Literal["id", "qa", "raw"]
Source = str | os.PathLike[str] | bytes | IO[bytes] | IO[str]

VARIANTS: tuple[Variant, ...] = ("temp", "geo")
LAYOUTS: tuple[Layout, ...] = ("id", "qa", "raw")

# date_type values of qa_data/temp and their meaning (§4.2).
STATIC = "orig"  # the question is not time-dependent; a date after NQ's collection
SAMPLED_YEAR = "sampled_year"  # a year sampled while one answer held
SAMPLED_DATE = "sampled_date"  # a full date sampled while one answer held
START = "start"  # the date (or year) an answer started to hold
DATE_TYPES = (STATIC, SAMPLED_YEAR, SAMPLED_DATE, START)

YEAR_RE = re.compile(r"\d{4}")
MAX_LISTED = 100  # problems spelled out in a FormatError's message; all are in .problems


@dataclass(frozen=True)
class LineProblem:
    line: int
    message: str


class FormatError(ValueError):
    """A file with bad lines; ``problems`` names every one, so one upload shows them all."""

    def __init__(self, problems: Sequence[LineProblem], *, name: str = "") -> None:
        self.problems = list(problems)
        self.name = name
        head = f"{name}: " if name else ""
        lines = [f"line {p.line}: {p.message}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"… and {len(self.problems) - MAX_LISTED} more bad lines")
        count = len(self.problems)
        super().__init__(f"{head}{count} bad line{'s' * (count != 1)}:\n  " + "\n  ".join(lines))


# ---------------------------------------------------------------------------- field checks

Check = Callable[[Any], bool]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_str_list_or_null(value: Any) -> bool:
    return value is None or _is_str_list(value)


def _is_yes_no(value: Any) -> bool:
    return value in ("yes", "no")


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_date_type(value: Any) -> bool:
    return value in DATE_TYPES


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_dict_list_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, dict) for v in value))


def _pairs_of(keys: Mapping[str, Check]) -> Check:
    def check(value: Any) -> bool:
        return isinstance(value, list) and all(
            isinstance(p, dict) and all(k in p and ok(p[k]) for k, ok in keys.items())
            for p in value
        )

    return check


_TEMP_PAIRS = _pairs_of(
    {
        "edited_question": _is_str,
        "answers": _is_str_list,
        "date": _is_str,
        "date_type": _is_date_type,
    }
)
_GEO_PAIRS = _pairs_of({"location": _is_str, "answers": _is_str_list, "edited_question": _is_str})

_CHECK_TEXT = {
    _is_str: "a string",
    _is_id: "an integer or a string",
    _is_str_list: "a list of strings",
    _is_str_list_or_null: "a list of strings or null",
    _is_yes_no: '"yes" or "no"',
    _is_bool: "true or false",
    _is_date_type: "one of " + ", ".join(DATE_TYPES),
    _is_dict: "an object",
    _is_dict_list_or_null: "a list of objects or null",
    _TEMP_PAIRS: "a list of {edited_question, answers, date, date_type}",
    _GEO_PAIRS: "a list of {location, answers, edited_question}",
}


@dataclass(frozen=True)
class Field:
    name: str
    check: Check
    required: bool = True


def _fields(*spec: tuple[str, Check] | tuple[str, Check, bool]) -> tuple[Field, ...]:
    return tuple(Field(*s) for s in spec)


SCHEMAS: dict[tuple[Layout, Variant], tuple[Field, ...]] = {
    ("id", "temp"): _fields(
        ("question", _is_str),
        ("source_dataset", _is_str),
        ("is_dependent", _is_yes_no),
        ("id", _is_id),
    ),
    ("id", "geo"): _fields(("question", _is_str), ("is_dependent", _is_yes_no), ("id", _is_id)),
    ("qa", "temp"): _fields(
        ("question", _is_str),
        ("id", _is_id),
        ("edited_question", _is_str),
        ("date", _is_str),
        ("date_type", _is_date_type),
        ("answer", _is_str_list),
        ("any_answer", _is_str_list),
    ),
    ("qa", "geo"): _fields(
        ("question", _is_str),
        ("id", _is_id),
        ("edited_question", _is_str),
        ("location", _is_str),
        ("answer", _is_str_list),
        ("any_answer", _is_str_list),
    ),
    ("raw", "temp"): _fields(
        ("question", _is_str),
        ("id", _is_id),
        ("nq_answers", _is_str_list),
        ("timelines", _is_dict_list_or_null),
        ("cur_answers", _is_str_list_or_null),
        ("prev_answers", _is_str_list_or_null),
        ("is_dependent", _is_bool),
        ("context_answer_pairs", _TEMP_PAIRS),
    ),
    ("raw", "geo"): _fields(
        ("question", _is_str),
        ("orig_label", _is_dict, False),
        ("id", _is_id),
        ("nq_question", _is_str),
        ("nq_context_answer_pair", _is_dict),
        ("context_answer_pairs", _GEO_PAIRS),
    ),
}

# --------------------------------------------------------------------------------- reading


def _gunzipped(path: Path) -> bytes:
    """The bytes of a ``.gz`` file, decompressed; a damaged one is a ``FormatError``."""
    try:
        return gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; a cut file an EOFError
        raise FormatError(
            [LineProblem(1, f"a damaged gzip file ({exc})")], name=path.name
        ) from None


def _open_text(source: Source) -> tuple[Iterable[bytes | str], str]:
    """The source as an iterable of lines (bytes or str) and a name for messages.

    A path ending ``.gz`` is decompressed (the copy of id_data shipped in
    ``ml/situatedqa/data`` is gzipped). Only paths: uploaded bytes are never inflated, so
    an upload's size check keeps bounding the memory it takes.
    """
    if isinstance(source, bytes):
        return source.splitlines(keepends=True), ""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        data = _gunzipped(path) if path.suffix == ".gz" else path.read_bytes()
        return data.splitlines(keepends=True), path.name
    return source, getattr(source, "name", "") or ""


def iter_lines(source: Source) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without its line end) of a UTF-8 source; a BOM is dropped.

    Undecodable bytes raise ``FormatError`` naming their line rather than a bare
    UnicodeDecodeError, so a Latin-1 upload says where it went wrong.
    """
    lines, name = _open_text(source)
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError([LineProblem(number, "not UTF-8 text")], name=name) from None
        else:
            text = raw.lstrip("\ufeff") if number == 1 else raw
        yield number, text.rstrip("\r\n")


def source_name(source: Source) -> str:
    return _open_text(source)[1] if not isinstance(source, bytes) else ""


def row_problems(row: Any, *, layout: Layout, variant: Variant) -> list[str]:
    """Why a parsed row is not a row of this official layout (empty when it is)."""
    if not isinstance(row, dict):
        return ["each line must be a JSON object"]
    problems = []
    for f in SCHEMAS[(layout, variant)]:
        if f.name not in row:
            if f.required:
                problems.append(f'missing "{f.name}"')
        elif not f.check(row[f.name]):
            problems.append(f'"{f.name}" must be {_CHECK_TEXT[f.check]}')
    return problems


def parse_jsonl(
    source: Source, *, validate: Callable[[Any], list[str]] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; all bad lines in one ``FormatError``."""
    rows: list[tuple[int, dict[str, Any]]] = []
    problems: list[LineProblem] = []
    for number, text in iter_lines(source):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"not valid JSON ({exc.msg}, column {exc.colno})"))
            continue
        found = validate(row) if validate else ([] if isinstance(row, dict) else ["not an object"])
        problems.extend(LineProblem(number, p) for p in found)
        if not found:
            rows.append((number, row))
    if problems:
        raise FormatError(problems, name=source_name(source))
    return rows


def read_official(source: Source, *, layout: Layout, variant: Variant) -> list[dict[str, Any]]:
    """The rows of an official ``{layout}_data/{variant}.{split}.jsonl`` file, as found.

    Raises ``FormatError`` listing every malformed line (bad JSON, a missing or mistyped
    field); nothing is returned unless the whole file is good.
    """
    _check_kind(layout, variant)
    return [
        row
        for _, row in parse_jsonl(
            source, validate=lambda r: row_problems(r, layout=layout, variant=variant)
        )
    ]


def guess_kind(filename: str) -> tuple[Layout | None, Variant | None]:
    """(layout, variant) from an official path such as ``qa_data/temp.dev.jsonl``."""
    parts = Path(filename).parts
    name = parts[-1] if parts else ""
    variant = next((v for v in VARIANTS if name.startswith(v + ".")), None)
    folder = parts[-2] if len(parts) > 1 else ""
    layout = next((lay for lay in LAYOUTS if folder == f"{lay}_data"), None)
    return layout, variant


def _check_kind(layout: str, variant: str) -> None:
    if (layout, variant) not in SCHEMAS:
        raise ValueError(f"unknown layout/variant {layout!r}/{variant!r}")


# --------------------------------------------------------------------------------- writing


def official_order(row: Mapping[str, Any], *, layout: Layout, variant: Variant) -> dict[str, Any]:
    """The row with its keys in the release's order; keys the layout does not name follow."""
    names = [f.name for f in SCHEMAS[(layout, variant)]]
    if (layout, variant) == ("raw", "temp") and row.get("timelines") is None:
        names.remove("timelines")  # the release writes a null timelines after prev_answers
        names.insert(names.index("prev_answers") + 1, "timelines")
    ordered = {name: row[name] for name in names if name in row}
    ordered.update((k, v) for k, v in row.items() if k not in ordered)
    return ordered


def dump_line(row: Mapping[str, Any]) -> str:
    """One line exactly as the release writes it: ``json.dumps`` defaults and a newline."""
    return json.dumps(row) + "\n"


def dumps_official(rows: Iterable[Mapping[str, Any]], *, layout: Layout, variant: Variant) -> bytes:
    """The file bytes for ``rows`` in the official layout; refuses rows the reader would."""
    _check_kind(layout, variant)
    out: list[str] = []
    problems: list[LineProblem] = []
    for number, row in enumerate(rows, start=1):
        found = row_problems(row, layout=layout, variant=variant)
        problems.extend(LineProblem(number, p) for p in found)
        if not found:
            out.append(dump_line(official_order(row, layout=layout, variant=variant)))
    if problems:
        raise FormatError(problems, name=f"{layout}_data/{variant}")
    return "".join(out).encode("ascii")  # ensure_ascii: every line is ASCII


def write_official(
    rows: Iterable[Mapping[str, Any]],
    dest: str | os.PathLike[str] | IO[bytes],
    *,
    layout: Layout,
    variant: Variant,
) -> None:
    data = dumps_official(rows, layout=layout, variant=variant)
    if isinstance(dest, str | os.PathLike):
        Path(dest).write_bytes(data)
    else:
        dest.write(data)


# ------------------------------------------------------------------- rules that build rows


def edited_question(question: str, kind: Variant, value: str) -> str:
    """The context-qualified question exactly as the release builds it (100 % of rows).

    Temporal: ``question + " as of " + date``; geographic: ``question + " in " +
    location.lower()`` — only the location is lower-cased, and nothing is stripped
    (``"India "`` gives ``"… in india "`` in the release).
    """
    if kind == "temp":
        return question + " as of " + value
    if kind == "geo":
        return question + " in " + value.lower()
    raise ValueError(f"unknown SituatedQA kind {kind!r} (temp or geo)")


def is_year(date: str) -> bool:
    """A bare four-digit year such as "2019" (as opposed to "December 29, 2020")."""
    return bool(YEAR_RE.fullmatch(date))


def format_date(start: Mapping[str, Any] | None) -> str | None:
    """A raw_data ``{"year", "month", "date"}`` as the release's qa ``date`` text.

    ``"2018"`` when only the year is known, else ``"April 07, 2019"`` (English month name,
    zero-padded day, as ``strftime("%B %d, %Y")``): every ``start`` row of the released
    train/dev data is one of its question's timeline starts written this way.
    """
    if start is None or start.get("year") is None:
        return None
    year = int(start["year"])
    if start.get("month") is None or start.get("date") is None:
        return f"{year:04d}"
    return f"{calendar.month_name[int(start['month'])]} {int(start['date']):02d}, {year:04d}"


def date_type(*, dependent: bool, from_start: bool, date: str) -> str:
    """The release's ``date_type`` for a temporal context.

    ``orig`` when the question was judged not time-dependent (its date was sampled after
    NQ's collection); ``start`` when the date is the start of one of the answers; otherwise
    the date was sampled while an answer held: ``sampled_year`` for a bare year,
    ``sampled_date`` for a full date. How the date was chosen has to be told: a sampled
    year can coincide with a start year (12 released train/dev rows do).
    """
    if not dependent:
        return STATIC
    if from_start:
        return START
    return SAMPLED_YEAR if is_year(date) else SAMPLED_DATE


def any_answers(answer_lists: Iterable[Sequence[str]]) -> list[str]:
    """The union of a question's answers over its contexts, first-seen order.

    The release's ``any_answer`` is the same set in Python set order (not reproducible), so
    a scorer must treat it as a set; only re-written official rows keep their order.
    """
    return list(dict.fromkeys(a for answers in answer_lists for a in answers))


def id_row(
    *,
    variant: Variant,
    question: str,
    id: int | str,
    is_dependent: bool,
    source_dataset: str | None = None,
) -> dict[str, Any]:
    """An ``id_data`` row; temporal rows carry ``source_dataset`` (e.g. "nq_table.open")."""
    row: dict[str, Any] = {"question": question}
    if variant == "temp":
        row["source_dataset"] = source_dataset or ""
    row["is_dependent"] = "yes" if is_dependent else "no"
    row["id"] = id
    return row


def context_pair(
    *,
    variant: Variant,
    question: str,
    context: str,
    answers: Sequence[str],
    date_type: str | None = None,
) -> dict[str, Any]:
    """One raw_data ``context_answer_pairs`` entry, keys in the release's order."""
    edited = edited_question(question, variant, context)
    if variant == "temp":
        if date_type not in DATE_TYPES:
            raise ValueError(f"date_type must be one of {', '.join(DATE_TYPES)}")
        return {
            "edited_question": edited,
            "answers": list(answers),
            "date": context,
            "date_type": date_type,
        }
    return {"location": context, "answers": list(answers), "edited_question": edited}


def qa_rows_from_raw(raw: Mapping[str, Any], *, variant: Variant) -> list[dict[str, Any]]:
    """The qa_data rows of one raw_data question, as the release flattens them.

    Row order, fields and values equal the released qa files for every train/dev
    question, except that ``any_answer`` is in first-seen order (see ``any_answers``).
    """
    pairs = raw["context_answer_pairs"]
    union = any_answers(p["answers"] for p in pairs)
    rows = []
    for p in pairs:
        row: dict[str, Any] = {"question": raw["question"], "id": raw["id"]}
        row["edited_question"] = p["edited_question"]
        if variant == "temp":
            row["date"], row["date_type"] = p["date"], p["date_type"]
        else:
            row["location"] = p["location"]
        row["answer"] = list(p["answers"])
        row["any_answer"] = list(union)
        rows.append(row)
    return rows


# ------------------------------------------------------------- plain questions and NQ-open


@dataclass(frozen=True)
class QuestionRow:
    """A question to put through the pipeline; ``id`` None when the file gave none."""

    line: int
    question: str
    id: int | str | None = None
    answers: tuple[str, ...] = ()


def _suffix(source: Source, name: str | None) -> str:
    label = name or source_name(source)
    return Path(label).suffix.lower()


def _answers_of(value: Any) -> tuple[str, ...] | None:
    """A str or list of str as a tuple; None when it is neither (a bad row)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if _is_str_list(value):
        return tuple(value)
    return None


def _question_from(
    line: int, obj: Mapping[str, Any], problems: list[LineProblem]
) -> QuestionRow | None:
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        problems.append(
            LineProblem(
                line,
                'missing "question"'
                if question is None
                else '"question" must be a non-empty string',
            )
        )
        return None
    qid = obj.get("id")
    if qid is not None and not _is_id(qid):
        problems.append(LineProblem(line, '"id" must be an integer or a string'))
        return None
    answers = _answers_of(obj.get("answer", obj.get("answers")))
    if answers is None:
        problems.append(LineProblem(line, '"answer" must be a string or a list of strings'))
        return None
    return QuestionRow(line, question, None if qid == "" else qid, answers)


def _csv_answers(cell: str) -> Any:
    """A CSV answer cell: a JSON list (``["a", "b"]``) or one plain answer."""
    cell = cell.strip()
    if cell.startswith("["):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell
    return cell


def _csv_questions(source: Source, problems: list[LineProblem]) -> list[QuestionRow]:
    text = "\n".join(t for _, t in iter_lines(source))
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    if "question" not in header:
        raise FormatError(
            [LineProblem(1, 'the header has no "question" column')], name=source_name(source)
        )
    rows = []
    for record in reader:
        obj = {key: (record.get(col) or "").strip() for key, col in header.items()}
        cell = obj.pop("answer", "") or obj.pop("answers", "")
        obj.pop("answers", None)
        obj["answer"] = _csv_answers(cell) if cell else None
        obj["id"] = _csv_id(obj.get("id", ""))
        row = _question_from(reader.line_num, obj, problems)
        if row:
            rows.append(row)
    return rows


def _csv_id(cell: str) -> int | str | None:
    """An id cell as the int the release uses when it is one, else the text (None if empty)."""
    if not cell:
        return None
    return int(cell) if re.fullmatch(r"-?\d+", cell) else cell


def read_questions(source: Source, *, name: str | None = None) -> list[QuestionRow]:
    """A plain question list: JSONL objects, a CSV with a header, or text one per line.

    JSONL/CSV fields: ``question`` (required), ``id`` and ``answer`` (a string or a list;
    in CSV a JSON list) optional. The format follows the name's suffix (``.jsonl``,
    ``.ndjson``, ``.csv``, ``.txt``). Every bad line is named in one ``FormatError``.
    """
    suffix = _suffix(source, name)
    problems: list[LineProblem] = []
    if suffix in (".jsonl", ".ndjson"):
        rows = [
            r for line, obj in parse_jsonl(source) if (r := _question_from(line, obj, problems))
        ]
    elif suffix == ".csv":
        rows = _csv_questions(source, problems)
    elif suffix == ".txt":
        rows = [QuestionRow(line, t.strip()) for line, t in iter_lines(source) if t.strip()]
    else:
        raise ValueError(f"unknown question list type {suffix!r}: use .jsonl, .csv or .txt")
    if problems:
        raise FormatError(problems, name=name or source_name(source))
    return rows


def _dpr_row(line: int, text: str, problems: list[LineProblem]) -> QuestionRow | None:
    """One DPR ``qas/nq-*.csv`` line: question, a tab, a Python list of answers."""
    question, tab, answers_text = text.rpartition("\t")
    if not tab:
        problems.append(LineProblem(line, "expected a question, a tab and a list of answers"))
        return None
    try:
        answers = ast.literal_eval(answers_text.strip())
    except (ValueError, SyntaxError):
        answers = None
    if not _is_str_list(answers):
        problems.append(LineProblem(line, "the answers must be a list of strings, as ['a', 'b']"))
        return None
    return _question_from(line, {"question": question, "answer": answers}, problems)


def read_nq_open(source: Source, *, name: str | None = None) -> list[QuestionRow]:
    """NQ-open questions with their answers.

    ``.jsonl``: Google's NQ-open lines ``{"question", "answer": [...]}`` (an ``id`` is kept
    when present, as in SituatedQA's ``temp_splits`` files); ``.csv``/``.tsv``: DPR's
    ``qas`` files, ``question<TAB>['answer', ...]`` without a header.
    """
    suffix = _suffix(source, name)
    problems: list[LineProblem] = []
    if suffix in (".jsonl", ".ndjson"):
        rows = [
            r for line, obj in parse_jsonl(source) if (r := _question_from(line, obj, problems))
        ]
    elif suffix in (".csv", ".tsv"):
        rows = [
            r for line, t in iter_lines(source) if t.strip() and (r := _dpr_row(line, t, problems))
        ]
    else:
        raise ValueError(f"unknown NQ-open file type {suffix!r}: use .jsonl, .csv or .tsv")
    if problems:
        raise FormatError(problems, name=name or source_name(source))
    return rows
