"""The generic import reads group, wanted_answers, lists and stage per row (JSONL and CSV)."""

from __future__ import annotations

import io

import pytest

from apps.core.models import Item
from apps.core.uploads import items_import_upload

pytestmark = pytest.mark.django_db


def _upload(project, text: str, name: str):
    return items_import_upload(project=project, upload=io.BytesIO(text.encode()), name=name)


def test_jsonl_rows_carry_the_per_participant_rules(project):
    report = _upload(
        project,
        '{"id": "a", "text": "x", "group": "utt1", "wanted_answers": 1, "lists": [0, 2], '
        '"stage": "check"}\n{"id": "b", "text": "y", "lists": 1}\n',
        "items.jsonl",
    )
    assert report.ok, report.errors
    a, b = Item.objects.order_by("external_id")
    assert (a.group, a.wanted_answers, a.lists, a.stage) == ("utt1", 1, [0, 2], "check")
    assert a.payload == {"text": "x"}
    assert (b.group, b.wanted_answers, b.lists, b.stage) == ("", None, [1], "")


def test_csv_cells_are_parsed(project):
    report = _upload(project, "id,text,group,wanted_answers,lists\na,x,g,2,0;3\n", "items.csv")
    assert report.ok, report.errors
    item = Item.objects.get()
    assert (item.group, item.wanted_answers, item.lists) == ("g", 2, [0, 3])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('"wanted_answers": 0', "wanted_answers 0 is not a whole number from 1 to 32767"),
        ('"wanted_answers": "many"', "wanted_answers 'many' is not a whole number"),
        ('"lists": [0, 99]', "lists: 99 is not a list number from 0 to 62"),
        ('"lists": ["x"]', "lists: 'x' is not a list number"),
        ('"group": {"a": 1}', "group must be text"),
        ('"stage": "' + "s" * 41 + '"', "stage is longer than 40 characters"),
    ],
)
def test_a_bad_rule_names_its_line_and_nothing_is_stored(project, row, message):
    report = _upload(project, '{"id": "ok"}\n{"id": "bad", ' + row + "}\n", "items.jsonl")
    assert not report.ok
    ((line, reason),) = report.errors
    assert line == 2 and message in reason
    assert Item.objects.count() == 0
