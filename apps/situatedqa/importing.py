"""SituatedQA imports: the official files, plain question lists and NQ-open files.

What a file is comes from its content (the first readable line's keys), so an upload named
``temp.dev.jsonl`` or ``upload.jsonl`` (the API's raw body) is read the same way:

- ``id_data`` rows (``is_dependent``) and ``raw_data`` rows (``context_answer_pairs``) become
  stage-1 questions; the official row is kept in the payload (``official.id_row`` /
  ``official.raw``) for the results and the demo. A question already in the project (the same
  variant and id, from the other layout) gets the row added instead of a second item.
- ``qa_data`` rows (``edited_question``) are stored as finished contexts
  (``FinishedContext``): the qa_data export writes them back as they are, and the results
  score the crowd's final answers against them. They make no items.
- a question list (``question`` and optional ``id``, ``answer``, ``variant``, geo
  ``location``), JSON lines or CSV with a header; and NQ-open files (Google's JSONL
  ``{"question", "answer": [...]}``, or DPR's ``question<TAB>['answer', ...]`` .csv). A row
  without ``variant`` goes to every variant the project runs.

Every import is all-or-nothing: every bad line is named in the report and nothing is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.db import transaction

from apps.core.models import Item, Project
from apps.core.registry import ImportReport
from ml.situatedqa import formats

from .models import FinishedContext
from .schemas import VARIANT_LABELS, VARIANTS, config_of

DEMO = Path(__file__).resolve().parent / "demo"
MAX_BYTES = 64 * 2**20  # the largest official file is 2 MB
MAX_ID = 100
NOTHING = "Nothing was imported: fix the lines named above and upload the whole file again."


class Refused(Exception):
    """The file is refused as a whole; ``problems`` are (line, message) pairs."""

    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__("; ".join(m for _, m in problems))
        self.problems = problems


@dataclass
class QuestionSpec:
    """One stage-1 question to create (or, ``merge``, an existing one to add a row to)."""

    line: int
    variant: str
    qid: Any
    question: str
    payload: dict


# ------------------------------------------------------------------------------- detection


def kind_of(name: str, data: bytes) -> tuple[str, str | None]:
    """(what, variant): ``("id" | "qa" | "raw", variant)``, ``("questions", None)`` or
    ``("dpr", None)``, from the content; the file name only breaks a tie."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        first = next((t for _, t in formats.iter_lines(data) if t.strip()), "")
        header = [h.strip().lower() for h in next(csv.reader([first]), [])]
        if "question" not in header and "\t" in first:
            return "dpr", None  # DPR's qas files: question<TAB>['answer', ...], no header
        return "questions", None
    if suffix not in (".jsonl", ".ndjson"):
        raise Refused(
            [(0, f"{name}: SituatedQA imports JSON lines (.jsonl) and CSV (.csv) files.")]
        )
    for _, text in formats.iter_lines(data):
        try:
            row = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            return _layout_of(row, name)
    return "questions", None  # every line is bad: the question reader names each one


def _layout_of(row: dict, name: str) -> tuple[str, str | None]:
    _, named = formats.guess_kind(name)
    if "context_answer_pairs" in row:
        geo = "nq_question" in row or "nq_context_answer_pair" in row
        return "raw", "geo" if geo else "temp"
    if "edited_question" in row:
        return "qa", "geo" if "location" in row and "date" not in row else "temp"
    if "is_dependent" in row:
        return "id", "temp" if "source_dataset" in row else (named or "geo")
    return "questions", None


# --------------------------------------------------------------------------------- checks


def _storable_problem(value: Any) -> str | None:
    """Why the database cannot keep ``value`` as it is (PostgreSQL refuses NUL characters
    and lone surrogates in JSON), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "a text holds a NUL character (\\u0000), which cannot be stored"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a text holds a lone surrogate (a broken \\ud8xx escape)"
        return None
    if isinstance(value, dict):
        items: Iterable[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((p for v in items if (p := _storable_problem(v))), None)


def _id_problem(qid: Any) -> str | None:
    if len(str(qid)) > MAX_ID:
        return f'"id" is longer than {MAX_ID} characters'
    return None


def external_id(variant: str, qid: Any) -> str:
    return f"{variant}:{qid}"


def _digest(row: dict) -> str:
    text = json.dumps(row, sort_keys=True, ensure_ascii=True)
    return hashlib.sha1(text.encode()).hexdigest()


# ------------------------------------------------------------------------------- readers


def _official_questions(data: bytes, name: str, layout: str, variant: str) -> list[QuestionSpec]:
    rows = formats.parse_jsonl(
        data,
        validate=lambda r: formats.row_problems(r, layout=layout, variant=variant),  # type: ignore[arg-type]
    )
    specs = []
    for line, row in rows:
        payload: dict[str, Any] = {"variant": variant, "question": row["question"], "id": row["id"]}
        if layout == "id":
            if variant == "temp":
                payload["source_dataset"] = row["source_dataset"]
            payload["official"] = {"id_row": row}
        else:
            if variant == "temp":
                payload["nq_answers"] = row["nq_answers"]
            else:
                payload["nq_question"] = row["nq_question"]
                pair = row["nq_context_answer_pair"]
                answers = pair.get("answers")
                if (
                    isinstance(pair.get("location"), str)
                    and isinstance(answers, list)
                    and all(isinstance(a, str) for a in answers)
                ):
                    payload["given"] = {"location": pair["location"], "answers": pair["answers"]}
            payload["official"] = {"raw": row}
        specs.append(QuestionSpec(line, variant, row["id"], row["question"], payload))
    return specs


def _plain_fields(data: bytes, name: str) -> dict[int, dict[str, Any]]:
    """The fields ``formats.read_questions`` does not return (variant, location), by line."""
    if Path(name).suffix.lower() == ".csv":
        text = "\n".join(t for _, t in formats.iter_lines(data))
        reader = csv.DictReader(io.StringIO(text))
        out = {}
        for record in reader:
            lowered = {(k or "").strip().lower(): (v or "").strip() for k, v in record.items()}
            out[reader.line_num] = lowered
        return out
    return dict(formats.parse_jsonl(data))


def _plain_questions(
    data: bytes, name: str, *, dpr: bool, variants: Sequence[str]
) -> list[QuestionSpec]:
    if dpr:
        rows = formats.read_nq_open(data, name=Path(name).stem + ".csv")
        extra: dict[int, dict[str, Any]] = {}
    else:
        rows = formats.read_questions(data, name=name)
        extra = _plain_fields(data, name)
    specs, problems = [], []
    for row in rows:
        fields = extra.get(row.line, {})
        wanted = fields.get("variant") or ""
        if wanted not in ("", *VARIANTS):
            problems.append(formats.LineProblem(row.line, '"variant" must be "temp" or "geo"'))
            continue
        qid = row.id if row.id is not None else _generated_id(row.question)
        for variant in [wanted] if wanted else variants:
            payload: dict[str, Any] = {"variant": variant, "question": row.question, "id": qid}
            if row.answers:
                payload["nq_answers"] = list(row.answers)
            location = fields.get("location")
            if variant == "geo" and isinstance(location, str) and location.strip():
                if not row.answers:
                    problems.append(
                        formats.LineProblem(
                            row.line, '"location" needs the "answer" that holds there'
                        )
                    )
                    continue
                payload["given"] = {"location": location.strip(), "answers": list(row.answers)}
            specs.append(QuestionSpec(row.line, variant, qid, row.question, payload))
    if problems:
        raise formats.FormatError(problems, name=name)
    return specs


def _generated_id(question: str) -> str:
    """A stable id for a question the file named none for: the same text, the same id."""
    return "q-" + hashlib.sha1(question.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------- import


def situatedqa_import(*, project: Project, upload) -> ImportReport:
    """Import one upload into ``project``: every row, or nothing."""
    report = ImportReport()
    name = str(getattr(upload, "name", "") or "upload.jsonl")
    try:
        data = _read(upload, name)
        what, variant = kind_of(name, data)
        config = config_of(project)
        if variant is not None and not config.runs(variant):
            raise Refused(
                [
                    (
                        0,
                        f"{name} holds {VARIANT_LABELS[variant].lower()} questions; this "
                        f"project runs {', '.join(VARIANT_LABELS[v].lower() for v in config.variant_list)} "
                        "ones only (Settings → Variants this project runs).",
                    )
                ]
            )
        if what == "qa":
            assert variant is not None
            _contexts_import(project, data, name, variant, report)
        else:
            if what in ("id", "raw"):
                assert variant is not None
                specs = _official_questions(data, name, what, variant)
            else:
                specs = _plain_questions(
                    data, name, dpr=what == "dpr", variants=config.variant_list
                )
            _questions_import(project, specs, what, report)
    except formats.FormatError as exc:
        for problem in exc.problems:
            report.error(problem.line, problem.message)
    except Refused as exc:
        for line, message in exc.problems:
            report.error(line, message)
    if not report.ok:
        report.created = 0
        report.notes = [NOTHING]
    return report


def _read(upload, name: str) -> bytes:
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise Refused(
            [(0, f"{name}: larger than {MAX_BYTES // 2**20} MB; split it and import the parts.")]
        )
    if not data.strip():
        raise Refused([(0, f"{name}: the file is empty.")])
    return data


LAYOUT_KEY = {"id": "id_row", "raw": "raw"}
LAYOUT_FILE = {"id": "id_data", "raw": "raw_data", "questions": "question list", "dpr": "NQ-open"}


def _questions_import(
    project: Project, specs: list[QuestionSpec], what: str, report: ImportReport
) -> None:
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for spec in specs:
        key = external_id(spec.variant, spec.qid)
        if problem := _id_problem(spec.qid) or _storable_problem(spec.payload):
            problems.append((spec.line, problem))
        elif key in seen:
            problems.append(
                (spec.line, f"question id {spec.qid} ({spec.variant}) is also on line {seen[key]}")
            )
        seen.setdefault(key, spec.line)
    if not specs:
        problems.append((0, "The file lists no questions."))
    existing = {
        item.external_id: item
        for item in Item.objects.filter(
            project=project, external_id__in=list(seen), parent__isnull=True
        )
    }
    merges = []
    layout_key = LAYOUT_KEY.get(what)
    for spec in specs:
        item = existing.get(external_id(spec.variant, spec.qid))
        if item is None:
            continue
        official = (item.payload or {}).get("official") or {}
        if layout_key is None or layout_key in official:
            problems.append(
                (
                    spec.line,
                    f"question id {spec.qid} ({spec.variant}) is already in the project; "
                    "nothing of this file was imported",
                )
            )
        elif (item.payload or {}).get("question") != spec.question:
            problems.append(
                (
                    spec.line,
                    f"question id {spec.qid} is already in the project with another text "
                    f"({item.payload.get('question')!r})",
                )
            )
        else:
            merges.append((item, spec))
    if problems:
        raise Refused(problems)
    wanted = config_of(project).identify_answers
    merged_ids = {id(spec) for _, spec in merges}
    new = [s for s in specs if id(s) not in merged_ids]
    with transaction.atomic():
        Item.objects.bulk_create(
            [
                Item(
                    project=project,
                    external_id=external_id(s.variant, s.qid),
                    payload=s.payload,
                    stage="identify",
                    wanted_answers=wanted,
                )
                for s in new
            ],
            batch_size=1000,
        )
        for item, spec in merges:
            payload = dict(item.payload)
            payload["official"] = {**(payload.get("official") or {}), **spec.payload["official"]}
            for key, value in spec.payload.items():
                payload.setdefault(key, value)
            item.payload = payload
            item.save(update_fields=["payload"])
    report.created = len(new)
    by_variant = {v: sum(s.variant == v for s in new) for v in VARIANTS}
    counts = ", ".join(f"{n} {VARIANT_LABELS[v].lower()}" for v, n in by_variant.items() if n)
    if counts:
        report.notes.append(f"{counts} question(s) from the {LAYOUT_FILE[what]} wait in stage 1.")
    if merges:
        report.notes.append(
            f"{len(merges)} question(s) already in the project got their official "
            f"{LAYOUT_FILE[what]} row."
        )


def _contexts_import(
    project: Project, data: bytes, name: str, variant: str, report: ImportReport
) -> None:
    rows = formats.parse_jsonl(
        data,
        validate=lambda r: formats.row_problems(r, layout="qa", variant=variant),  # type: ignore[arg-type]
    )
    problems: list[tuple[int, str]] = []
    digests: dict[str, int] = {}
    contexts = []
    for line, row in rows:
        problem = _id_problem(row["id"]) or _storable_problem(row)
        digest = _digest(row)
        if problem:
            problems.append((line, problem))
        elif digest in digests:
            problems.append((line, f"the same row as line {digests[digest]}"))
        digests.setdefault(digest, line)
        contexts.append(
            FinishedContext(
                project=project,
                variant=variant,
                row=row,
                question_id=str(row["id"]),
                digest=digest,
                source=Path(name).name[:200],
                line=line,
            )
        )
    taken = dict(
        FinishedContext.objects.filter(
            project=project, variant=variant, digest__in=list(digests)
        ).values_list("digest", "source")
    )
    for context in contexts:
        if context.digest in taken:
            problems.append(
                (context.line, f"this row is already in the project (from {taken[context.digest]})")
            )
    if not contexts:
        problems.append((0, "The file lists no rows."))
    if problems:
        raise Refused(problems)
    with transaction.atomic():
        FinishedContext.objects.bulk_create(contexts, batch_size=1000)
    questions = len({str(c.row["id"]) for c in contexts})
    report.notes.append(
        f"{len(contexts)} official {VARIANT_LABELS[variant].lower()} context(s) of {questions} "
        "question(s) stored as finished rows (no items): the qa_data export writes them back "
        "as they are, and the results score the crowd's final answers against them."
    )


# --------------------------------------------------------------------------- sample files


@cache
def demo_lines(layout: str, variant: str) -> tuple[str, ...]:
    """The shipped dev subset's lines (official, byte for byte)."""
    path = DEMO / f"{layout}_data" / f"{variant}.dev.jsonl"
    return tuple(path.read_text(encoding="ascii").splitlines(keepends=True))


@cache
def nq_open_lines() -> tuple[str, ...]:
    path = DEMO / "temp_splits" / "pre_2019.dev.jsonl"
    return tuple(path.read_text(encoding="ascii").splitlines(keepends=True))
