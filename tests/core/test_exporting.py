"""The database-built annotations export (PostgreSQL) says exactly what the Python one says."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from django.db import connection

from apps.core import exporting
from apps.core.models import Item
from tests.api.helpers import bulk_answers
from tests.factories import ParticipantFactory

pytestmark = pytest.mark.django_db


def _parse_jsonl(chunks) -> list[dict]:
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        record["created_at"] = datetime.fromisoformat(record["created_at"])
    return records


def _parse_csv(chunks) -> list[dict]:
    text = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return rows


@pytest.fixture
def answered(project):
    bulk_answers(project, items=40, workers=3)
    item = Item.objects.create(project=project, external_id="=1+2", payload={})
    participant = ParticipantFactory(project=project, external_id="@evil")
    from tests.api.helpers import answer_through_engine

    answer_through_engine(participant, lambda i: "b")
    return project, item


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_the_database_built_export_equals_the_python_one(answered):
    project, _ = answered
    labels = exporting._label_map(project)
    assert labels == {'{"choice": "a"}': "a", '{"choice": "b"}': "b"}

    python_jsonl = _parse_jsonl(exporting._chunked(exporting.annotation_jsonl(project)))
    pg_jsonl = _parse_jsonl(exporting._pg_annotation_jsonl(project, labels))
    assert len(pg_jsonl) == 121
    assert pg_jsonl == python_jsonl

    python_csv = _parse_csv(
        exporting._csv_lines(exporting.ANNOTATION_COLUMNS, exporting.annotation_csv_rows(project))
    )
    pg_csv = _parse_csv(exporting._pg_annotation_csv(project, labels))
    assert pg_csv == python_csv
    assert {"'=1+2"} <= {row["item_id"] for row in pg_csv}
    assert {"'@evil"} <= {row["participant_external_id"] for row in pg_csv}
