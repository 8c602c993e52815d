"""Streaming, all-or-nothing item import shared by every task type.

``iter_rows`` reads JSONL, a JSON array or CSV from a binary upload one row at a time
(with its line number); ``items_import`` validates rows through a callback and inserts them
in batches inside one transaction, rolled back whole if any row was bad. Memory stays flat
for million-row files: rows are never all held at once.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.db import connection, transaction
from django.utils import timezone

from .models import MAX_LISTS, Item, Project
from .registry import ImportReport

BATCH = 2000
READ_BLOCK = 1 << 20
# A JSONL or CSV line longer than this is refused while it is read (a 50 MB line would
# otherwise be decoded whole). Long texts fit: 1 MiB characters is a short novel.
MAX_LINE_CHARS = 1 << 20
MAX_ERRORS = 1000  # a report longer than this is not read; the count still is


class ImportFailed(Exception):
    """The upload as a whole is unreadable (wrong format, encoding); nothing was stored."""


@dataclass
class Row:
    line: int
    data: dict[str, Any]


@dataclass
class ItemSpec:
    external_id: str
    payload: dict[str, Any]
    kind: str = str(Item.Kind.REGULAR)
    gold_value: Any = None
    priority: float = 0.0
    stage: str = ""
    # Per-participant rules the engine reads (see Item): at most one item of a group per
    # participant, answers wanted (None = the project's overlap), the lists of a balanced design.
    group: str = ""
    wanted_answers: int | None = None
    list_mask: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RowError(ValueError):
    """A row is bad; the message names the field and reason."""


def _text(upload: IO[bytes], *, max_line: int | None = None) -> Iterator[tuple[int, str]]:
    """Lines of a UTF-8 upload (BOM allowed), with 1-based numbers; bad bytes name their line.

    With ``max_line``, a line longer than that many characters stops the import as soon as
    that much of it has been read, instead of being decoded (and held) whole.
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    pending = ""
    number = 0
    while True:
        if max_line is not None and len(pending) > max_line:
            raise ImportFailed(
                f"Line {number + 1}: longer than {max_line:,} characters. "
                "Each item must be on a line of its own; is this the right file?"
            )
        chunk = upload.read(READ_BLOCK if max_line is None else min(READ_BLOCK, max_line + 1))
        final = not chunk
        try:
            pending += decoder.decode(chunk or b"", final=final)
        except UnicodeDecodeError as exc:
            # Decode the good prefix of this block to count the lines before the bad byte.
            good = exc.object[: exc.start].decode("utf-8", errors="replace")
            bad_line = number + (pending + good).count("\n") + 1
            raise ImportFailed(
                f"Line {bad_line}: the file is not UTF-8 text. "
                "Save it as UTF-8 (CSV UTF-8 in Excel) and upload it again."
            ) from None
        *lines, pending = pending.split("\n")
        for line in lines:
            number += 1
            yield number, line + "\n"
        if final:
            if pending:
                yield number + 1, pending
            return


def file_format(name: str) -> str:
    lower = name.lower()
    for ext, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
        if lower.endswith(ext):
            return fmt
    raise ImportFailed(f"{name}: unknown file type; upload .jsonl, .json or .csv.")


def iter_rows(upload: IO[bytes], name: str) -> Iterator[Row]:
    fmt = file_format(name)
    refuse_utf16(upload)  # Excel's "Unicode text": say so, for every task type's import
    # A JSON array may well be one long line; JSONL and CSV have one item per line.
    lines = _text(upload, max_line=None if fmt == "json" else MAX_LINE_CHARS)
    if fmt == "jsonl":
        for number, line in lines:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Row(number, {"__error__": f"not valid JSON ({exc.msg})"})
                continue
            if not isinstance(data, dict):
                yield Row(number, {"__error__": "each line must be a JSON object"})
                continue
            yield Row(number, data)
    elif fmt == "json":
        text = "".join(line for _, line in lines)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg}).") from None
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list):
            raise ImportFailed(f"{name}: expected a JSON array of objects.")
        for index, entry in enumerate(data, start=1):
            if not isinstance(entry, dict):
                yield Row(index, {"__error__": "each entry must be a JSON object"})
            else:
                yield Row(index, entry)
    else:
        yield from _csv_rows(lines, name)


def _csv_rows(lines: Iterator[tuple[int, str]], name: str) -> Iterator[Row]:
    reader = csv.DictReader(_LineReader(lines))
    try:
        if not reader.fieldnames:
            raise ImportFailed(f"{name}: the CSV file is empty.")
        columns = len(reader.fieldnames)
        for data in reader:
            if None in data:
                yield Row(reader.line_num, {"__error__": "more cells than header columns"})
                continue
            missing = [k for k, v in data.items() if v is None]
            if missing:
                # DictReader fills a short row's missing cells with None; an empty cell is "".
                yield Row(
                    reader.line_num,
                    {
                        "__error__": f"{columns - len(missing)} of {columns} cells; missing "
                        + ", ".join(repr(k.strip()) for k in missing)
                    },
                )
                continue
            yield Row(reader.line_num, {k.strip(): v for k, v in data.items() if k is not None})
    except csv.Error as exc:
        line = reader.line_num or 1
        if "field larger than field limit" in str(exc):
            raise ImportFailed(
                f"Line {line}: a cell is longer than {csv.field_size_limit():,} characters, "
                'most likely a quote (") that is opened and never closed.'
            ) from None
        raise ImportFailed(f"Line {line}: not valid CSV ({exc}).") from None


class _LineReader(io.TextIOBase):
    """Feeds numbered lines to csv.reader (which wants an iterator of strings)."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines

    def __iter__(self):
        return self

    def __next__(self) -> str:  # type: ignore[override]  # csv.reader reads text lines
        return next(self._lines)[1]


def _wanted_answers(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or not 1 <= number <= 32767:
        raise RowError(f"wanted_answers {value!r} is not a whole number from 1 to 32767")
    return number


def _list_mask(value: Any) -> int:
    """``lists`` as a mask: a list number, a JSON list of them, or "0;2" / "0,2" in a CSV cell."""
    if value in (None, "", []):
        return 0
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise RowError("lists is not valid JSON") from None
        else:
            value = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if not isinstance(value, list):
        value = [value]
    numbers = []
    for entry in value:
        try:
            if isinstance(entry, bool) or (isinstance(entry, float) and not entry.is_integer()):
                raise ValueError
            numbers.append(int(entry))
        except (TypeError, ValueError):
            raise RowError(
                f"lists: {entry!r} is not a list number from 0 to {MAX_LISTS - 1}"
            ) from None
    try:
        return Item.mask_of(numbers)
    except ValueError:
        bad = next(n for n in numbers if not 0 <= n < MAX_LISTS)
        raise RowError(f"lists: {bad!r} is not a list number from 0 to {MAX_LISTS - 1}") from None


def _short_text(data: dict, key: str, limit: int) -> str:
    value = data.pop(key, None)
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RowError(f"{key} must be text")
    text = str(value).strip()
    if len(text) > limit:
        raise RowError(f"{key} is longer than {limit} characters")
    return text


def default_item_spec(row: Row) -> ItemSpec:
    """The generic row shape: id/external_id, optional kind, gold, priority, group,
    wanted_answers, lists and stage; the rest is payload."""
    data = dict(row.data)
    external_id = str(data.pop("external_id", None) or data.pop("id", None) or "").strip()
    if not external_id:
        raise RowError("missing 'id' (or 'external_id')")
    kind = str(data.pop("kind", None) or Item.Kind.REGULAR).strip().lower()
    if kind not in Item.Kind.values:
        raise RowError(f"kind {kind!r} is not one of {', '.join(Item.Kind.values)}")
    gold = data.pop("gold", None)
    if isinstance(gold, str) and gold.strip().startswith(("{", "[")):
        try:
            gold = json.loads(gold)
        except json.JSONDecodeError:
            raise RowError("gold is not valid JSON") from None
    if kind != Item.Kind.REGULAR and gold in (None, ""):
        raise RowError(f"a {kind} item needs a 'gold' answer")
    priority = data.pop("priority", None)
    try:
        priority = float(priority) if priority not in (None, "") else 0.0
    except (TypeError, ValueError):
        raise RowError(f"priority {priority!r} is not a number") from None
    group = _short_text(data, "group", 200)
    stage = _short_text(data, "stage", 40)
    wanted = _wanted_answers(data.pop("wanted_answers", None))
    list_mask = _list_mask(data.pop("lists", None))
    return ItemSpec(
        external_id=external_id,
        payload=data,
        kind=kind,
        gold_value=gold if gold != "" else None,
        priority=priority,
        stage=stage,
        group=group,
        wanted_answers=wanted,
        list_mask=list_mask,
    )


def items_import(
    *,
    project: Project,
    rows: Iterable[Row],
    to_spec: Callable[[Row], ItemSpec | None] = default_item_spec,
    report: ImportReport | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Insert every row's item, or none: any bad row rolls the whole import back.

    ``to_spec`` returns None to drop a row silently (a cleaning rule counted by the caller)
    and raises ``RowError`` for a bad row.
    """
    report = report or ImportReport()
    existing = set(project.items.values_list("external_id", flat=True).iterator())
    seen: dict[str, int] = {}  # id → the line it was first seen on
    batch: list[ItemSpec] = []
    created = 0

    class _Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            for row in rows:
                if "__error__" in row.data:
                    _error(report, row.line, row.data["__error__"])
                    continue
                try:
                    spec = to_spec(row)
                except RowError as exc:
                    _error(report, row.line, str(exc))
                    continue
                if spec is None:
                    continue
                if spec.external_id in existing:
                    _error(
                        report,
                        row.line,
                        f"duplicate id {spec.external_id!r}: the project already has an item "
                        "with this id",
                    )
                    continue
                if spec.external_id in seen:
                    _error(
                        report,
                        row.line,
                        f"duplicate id {spec.external_id!r}: also on line {seen[spec.external_id]}",
                    )
                    continue
                if len(spec.external_id) > 200:
                    _error(report, row.line, "id is longer than 200 characters")
                    continue
                seen[spec.external_id] = row.line
                if report.errors:
                    continue  # keep validating, stop inserting: it will be rolled back
                batch.append(spec)
                if len(batch) >= BATCH:
                    created += _insert(project, batch)
                    batch.clear()
                    if progress:
                        progress(created)
            if report.errors:
                raise _Rollback
            if batch:
                created += _insert(project, batch)
    except _Rollback:
        report.created = 0
        return report
    report.created = created
    return report


# COPY fills no Django defaults: every NOT NULL column without a database default is here.
_COPY_COLUMNS = (
    "project_id",
    "external_id",
    "payload",
    "kind",
    "gold_value",
    "priority",
    "model_priority",
    "stage",
    "group",
    "wanted_answers",
    "list_mask",
    "child_key",
    "answer_count",
    "created_at",
)


def _insert(project: Project, specs: list[ItemSpec]) -> int:
    """Insert one batch; on PostgreSQL through COPY, several times faster than INSERT."""
    if connection.vendor != "postgresql":
        Item.objects.bulk_create(
            Item(
                project=project,
                external_id=s.external_id,
                payload=s.payload,
                kind=s.kind,
                gold_value=s.gold_value,
                priority=s.priority,
                stage=s.stage,
                group=s.group,
                wanted_answers=s.wanted_answers,
                list_mask=s.list_mask,
            )
            for s in specs
        )
        return len(specs)
    now = timezone.now()
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        columns = ", ".join(f'"{c}"' for c in _COPY_COLUMNS)  # "group" is a keyword
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for s in specs:
                copy.write_row(
                    (
                        project.pk,
                        s.external_id,
                        json.dumps(s.payload),
                        s.kind,
                        None if s.gold_value is None else json.dumps(s.gold_value),
                        s.priority,
                        0.0,
                        s.stage,
                        s.group,
                        s.wanted_answers,
                        s.list_mask,
                        "",
                        0,
                        now,
                    )
                )
    return len(specs)


def _error(report: ImportReport, line: int, reason: str) -> None:
    if len(report.errors) < MAX_ERRORS:
        report.error(line, reason)
    elif len(report.errors) == MAX_ERRORS:
        report.error(line, "… more errors not listed")


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def first_undecodable_line(upload: IO[bytes]) -> int | None:
    """The exact line of the first byte that is not UTF-8.

    The core reader decodes 1 MB blocks and can only say which block failed; a second pass
    line by line (a UTF-8 character never spans a newline) names the line itself.
    """
    if not hasattr(upload, "seek"):
        return None
    upload.seek(0)
    for number, line in enumerate(upload, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def refuse_utf16(upload: IO[bytes]) -> None:
    """Excel's "Unicode text" is UTF-16; say so rather than fail on line 1 with mojibake."""
    if not hasattr(upload, "seek"):
        return
    head = upload.read(2)
    upload.seek(0)
    if head in _UTF16_BOMS:
        raise ImportFailed(
            "Line 1: the file is UTF-16 text. Save it as UTF-8 (CSV UTF-8) and upload it again."
        )
