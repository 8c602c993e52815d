"""Streaming JSONL and CSV writers, shared by the dashboard downloads and the API.

Records arrive from an iterator and leave as a stream of ~64 KB text chunks, so an export of
millions of rows runs in constant memory. CSV cells that a spreadsheet would run as a formula
(first character ``= + - @``, or a tab / carriage return that hides one) are prefixed with
``'``; numbers stay numbers. JSONL is left exact: a JSON reader executes nothing.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse

from . import registry
from .answer_rules import PARTICIPANT_COLUMNS, participant_records
from .models import Annotation, Item, Participant, Project

CHUNK_CHARS = 64 * 1024
PEEK_ROWS = 1000  # records read ahead to learn a CSV header when the columns are not declared
OTHER_COLUMN = "_other"  # keys first seen after the header was written, as one JSON object
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
NATIVE = "native"  # a record set's own layout (``RecordSet.native``), where it has one

ANNOTATION_COLUMNS = [
    "annotation_id",
    "item_id",
    "item_kind",
    "participant_id",
    "participant_source",
    "participant_external_id",
    "participant_status",
    "value",
    "label",
    "duration_ms",
    "created_at",
]


def neutralise(value: Any) -> Any:
    """A CSV cell that a spreadsheet will show as text, never evaluate."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _chunked(pieces: Iterable[str]) -> Iterator[str]:
    """Join small strings into ~64 KB chunks: one socket write per chunk, not per row."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            yield "".join(buffer)
            buffer.clear()
            size = 0
    if buffer:
        yield "".join(buffer)


def jsonl_stream(records: Iterable[dict]) -> Iterator[str]:
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    return _chunked(dumps(record) + "\n" for record in records)


def csv_stream(records: Iterable[dict], columns: list[str] | None = None) -> Iterator[str]:
    """CSV with a header; without ``columns`` the header is learned from the first records.

    Keys that first appear after the header was written are kept, as JSON, in ``_other``.
    """
    records = iter(records)
    if columns is None:
        head = list(islice(records, PEEK_ROWS))
        columns = []
        for record in head:
            columns.extend(key for key in record if key not in columns)
        columns.append(OTHER_COLUMN)
        records = chain(head, records)
    known = set(columns)
    has_other = OTHER_COLUMN in known

    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def lines() -> Iterator[str]:
        writer.writerow(columns)
        for record in records:
            row = [neutralise(record.get(column)) for column in columns]
            if has_other:
                extra = {k: v for k, v in record.items() if k not in known}
                row[-1] = neutralise(extra) if extra else ""
            writer.writerow(row)
            if buffer.tell() >= CHUNK_CHARS:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue()

    return lines()


def stream_response(
    records: Iterable[dict], *, fmt: str, filename: str, columns: list[str] | None = None
) -> StreamingHttpResponse:
    """A download of ``records`` as ``fmt`` (jsonl or csv), streamed as it is produced."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; use jsonl or csv.")
    body = jsonl_stream(records) if fmt == "jsonl" else csv_stream(records, columns)
    response = StreamingHttpResponse(body, content_type=f"{FORMATS[fmt]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


LABEL_MEMO = 10_000  # distinct answer texts whose label is remembered (categorical: a handful)


def _annotation_rows(project: Project, chunk_size: int) -> Iterator[tuple]:
    """Rows with the answer as its JSON text: no decode/encode per row, labels memoised."""
    label_of = registry.get(project.task_type).label_of
    labels: dict[str, Any] = {}
    rows = (
        Annotation.objects.filter(project=project)
        .order_by("id")
        .annotate(value_text=Cast("value", output_field=TextField()))
        .values_list(
            "id",
            "item__external_id",
            "item__kind",
            "participant__public_id",
            "participant__source",
            "participant__external_id",
            "participant__status",
            "value_text",
            "duration_ms",
            "created_at",
        )
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        text = row[7]
        label = labels.get(text, labels)
        if label is labels:
            label = label_of(json.loads(text))
            if not isinstance(label, str | int | float | bool) and label is not None:
                label = str(label)
            if len(labels) >= LABEL_MEMO:
                labels.clear()
            labels[text] = label
        yield row, label


class _Row(NamedTuple):
    pk: int
    item_id: str
    kind: str
    public_id: Any
    source: str
    external_id: str
    status: str
    value: str  # the answer's JSON text
    duration: int
    created: Any


def annotation_jsonl(project: Project, *, chunk_size: int = 10000) -> Iterator[str]:
    """The annotations export as JSONL lines, built as text (the same keys as the CSV)."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for raw, label in _annotation_rows(project, chunk_size):
        r = _Row(*raw)
        yield (
            f'{{"annotation_id":{r.pk},"item_id":{dumps(r.item_id)},"item_kind":"{r.kind}",'
            f'"participant_id":"{r.public_id}","participant_source":"{r.source}",'
            f'"participant_external_id":{dumps(r.external_id)},'
            f'"participant_status":"{r.status}","value":{r.value},"label":{dumps(label)},'
            f'"duration_ms":{r.duration},"created_at":"{r.created.isoformat()}"}}\n'
        )


def annotation_csv_rows(project: Project, *, chunk_size: int = 10000) -> Iterator[list]:
    for raw, label in _annotation_rows(project, chunk_size):
        r = _Row(*raw)
        yield [
            r.pk,
            neutralise(r.item_id),
            r.kind,
            str(r.public_id),
            r.source,
            neutralise(r.external_id),
            r.status,
            neutralise(r.value),
            neutralise(label),
            r.duration,
            r.created.isoformat(),
        ]


def _csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def annotations_response(project: Project, *, fmt: str, filename: str) -> StreamingHttpResponse:
    body: Iterator[str] | Iterator[bytes]
    if connection.vendor == "postgresql" and (labels := _label_map(project)) is not None:
        if fmt == "jsonl":
            body = _pg_annotation_jsonl(project, labels)
        else:
            body = _pg_annotation_csv(project, labels)
    elif fmt == "jsonl":
        body = _chunked(annotation_jsonl(project))
    else:
        body = _csv_lines(ANNOTATION_COLUMNS, annotation_csv_rows(project))
    response = StreamingHttpResponse(body, content_type=f"{FORMATS[fmt]}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- PostgreSQL: the database writes the rows ---------------------------------------------
# Building each row in Python costs ~30 µs; PostgreSQL builds the JSON object (or the CSV line,
# through COPY) in C and Python only passes text on. Labels are task-type logic, so they are
# computed in Python once per distinct answer and handed to the query as one JSON object.

_PG_FROM = """
    FROM core_annotation a
    JOIN core_item i ON i.id = a.item_id
    JOIN core_participant p ON p.id = a.participant_id
    WHERE a.project_id = %(project)s
    ORDER BY a.id
"""


def _label_map(project: Project) -> dict[str, Any] | None:
    """{answer JSON text: label} for every distinct answer, or None when there are too many."""
    label_of = registry.get(project.task_type).label_of
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT value::text FROM core_annotation WHERE project_id = %s LIMIT %s",
            [project.pk, LABEL_MEMO + 1],
        )
        texts = [row[0] for row in cursor.fetchall()]
    if len(texts) > LABEL_MEMO:
        return None
    labels = {}
    for text in texts:
        label = label_of(json.loads(text))
        if not isinstance(label, str | int | float | bool) and label is not None:
            label = str(label)
        labels[text] = label
    return labels


def _pg_annotation_jsonl(project: Project, labels: dict) -> Iterator[str]:
    sql = (
        """
        SELECT json_build_object(
            'annotation_id', a.id, 'item_id', i.external_id, 'item_kind', i.kind,
            'participant_id', p.public_id, 'participant_source', p.source,
            'participant_external_id', p.external_id, 'participant_status', p.status,
            'value', a.value, 'label', %(labels)s::jsonb -> (a.value::text),
            'duration_ms', a.duration_ms, 'created_at', a.created_at)::text
    """
        + _PG_FROM
    )
    params = {"project": project.pk, "labels": json.dumps(labels)}
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(10000):
            yield "\n".join(row[0] for row in rows) + "\n"


def _neutralised_sql(expression: str) -> str:
    # The rule of neutralise(): a leading = + - @, tab or CR gets a quote prefix.
    return (
        f"(CASE WHEN {expression} ~ E'^[-=+@\\t\\r]' THEN '''' || {expression} "
        f"ELSE {expression} END)"
    )


def _pg_annotation_csv(project: Project, labels: dict) -> Iterator[bytes]:
    label = "(%(labels)s::jsonb ->> (a.value::text))"
    select = (
        f"""
        SELECT a.id, {_neutralised_sql("i.external_id")}, i.kind, p.public_id, p.source,
               {_neutralised_sql("p.external_id")}, p.status, {_neutralised_sql("a.value::text")},
               {_neutralised_sql(label)}, a.duration_ms,
               to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    """
        + _PG_FROM
    )
    yield (",".join(ANNOTATION_COLUMNS) + "\r\n").encode()
    params = {"project": project.pk, "labels": json.dumps(labels)}
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        query = raw.mogrify(select, params)
        buffer = bytearray()
        with raw.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for data in copy:
                buffer += data
                if len(buffer) >= CHUNK_CHARS:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)


class AnswerRow(NamedTuple):
    annotator: str  # "source:external id", as the researcher knows the participant
    value: Any
    blocked: bool
    duration_ms: int | None


class ItemAnswers(NamedTuple):
    pk: int
    external_id: str
    kind: str
    payload: dict
    gold_value: Any
    answers: list[AnswerRow]  # in the order they were given


def items_with_answers(project: Project, *, chunk_size: int = 2000) -> Iterator[ItemAnswers]:
    """Every item of ``project`` with its answers, in id-ordered pages (two queries a page).

    Keyset pages rather than one open cursor, so memory stays flat and SQLite may be written
    meanwhile. The skeleton of a task type's "records" export.
    """
    last = 0
    while True:
        page = list(
            Item.objects.filter(project=project, pk__gt=last)
            .order_by("pk")
            .values_list("pk", "external_id", "kind", "payload", "gold_value")[:chunk_size]
        )
        if not page:
            return
        last = page[-1][0]
        answers: dict[int, list[AnswerRow]] = {pk: [] for pk, *_ in page}
        rows = (
            Annotation.objects.filter(item_id__in=list(answers))
            .order_by("pk")
            .values_list(
                "item_id",
                "participant__source",
                "participant__external_id",
                "participant__status",
                "value",
                "duration_ms",
            )
        )
        for item_id, source, external_id, status, value, duration in rows:
            answers[item_id].append(
                AnswerRow(
                    f"{source}:{external_id}",
                    value,
                    status == Participant.Status.BLOCKED,
                    duration,
                )
            )
        for pk, external_id, kind, payload, gold in page:
            yield ItemAnswers(pk, external_id, kind, payload or {}, gold, answers[pk])


AGGREGATE_COLUMNS = ["item_id", "method", "label", "confidence", "tie", "answers"]


def aggregate_records(project: Project, *, method: str) -> Iterator[dict]:
    """One aggregated label per regular item with answers (blocked participants excluded)."""
    from .quality import aggregate, answers_frame

    result = aggregate(answers_frame(project), method)
    ids = dict(
        Item.objects.filter(project=project, kind=Item.Kind.REGULAR).values_list(
            "id", "external_id"
        )
    )
    for item_pk in sorted(result):
        agg = result[item_pk]
        yield {
            "item_id": ids.get(item_pk, str(item_pk)),
            "method": method,
            "label": registry.json_ready(agg.label),
            "confidence": round(agg.confidence, 6),
            "tie": agg.tie,
            "answers": agg.n,
        }


def _aggregate_records_of(project: Project, *, method: str) -> Iterator[dict]:
    return aggregate_records(project, method=method)


def aggregation_methods(project: Project) -> list[registry.AggregationMethod]:
    return registry.get(project.task_type).aggregation_methods


def export_catalog(project: Project) -> list[registry.RecordSet]:
    """Every download of ``project``: its answers, the task type's record sets, aggregates."""
    task_type = registry.get(project.task_type)
    answers = registry.RecordSet(
        key="annotations",
        title="Answers",
        description="Every answer, one row each (blocked participants included, marked).",
        columns=[],
        records=lambda p: iter(()),  # streamed by annotations_response, not row by row
    )
    aggregates = [
        registry.RecordSet(
            key=f"aggregates-{method.key}",
            title=f"Aggregated labels ({method.title})",
            description=f"One label per item by {method.title}, with its confidence; ties marked.",
            columns=AGGREGATE_COLUMNS,
            records=functools.partial(_aggregate_records_of, method=method.key),
        )
        for method in task_type.aggregation_methods
    ]
    participants = registry.RecordSet(
        key="participants",
        title="Participants",
        description="One row per participant: status, block reason, fast/constant flags.",
        columns=PARTICIPANT_COLUMNS,
        records=participant_records,
    )
    return [answers, *task_type.exports(), *aggregates, participants]


class UnknownExport(LookupError):
    pass


def export_response(project: Project, *, what: str, fmt: str) -> StreamingHttpResponse:
    """The streamed download ``what`` (a key of ``export_catalog``) of ``project`` as ``fmt``
    (jsonl, csv, or ``native`` for a record set with a layout of its own)."""
    if fmt not in FORMATS and fmt != NATIVE:
        raise UnknownExport(f"Unknown format {fmt!r}; use jsonl or csv.")
    name = f"{project.slug}-{what}"
    if what == "annotations" and fmt != NATIVE:
        return annotations_response(project, fmt=fmt, filename=name)
    catalog = {record_set.key: record_set for record_set in export_catalog(project)}
    if what not in catalog:
        raise UnknownExport(f"Unknown export {what!r}; use one of {', '.join(catalog)}.")
    record_set = catalog[what]
    if fmt == NATIVE:
        return native_response(project, record_set, filename=name)
    return stream_response(
        record_set.records(project), fmt=fmt, filename=name, columns=record_set.columns
    )


def native_response(
    project: Project, record_set: registry.RecordSet, *, filename: str
) -> StreamingHttpResponse:
    """The record set in its own layout (``RecordSet.native``), streamed as written."""
    native = record_set.native
    if native is None:
        raise UnknownExport(f"{record_set.key!r} has no layout of its own; use jsonl or csv.")
    response = StreamingHttpResponse(native.write(project), content_type=native.content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{native.extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
