from __future__ import annotations

import io

import pytest

from apps.core import registry
from apps.core.models import Item

pytestmark = pytest.mark.django_db


def upload(text: str | bytes, name: str):
    data = text.encode() if isinstance(text, str) else text
    f = io.BytesIO(data)
    f.name = name
    return f


def run(project, text, name):
    return registry.get(project.task_type).import_items(project, upload(text, name))


def test_jsonl_rows_become_items(project):
    report = run(
        project, '{"id": "a", "text": "x"}\n{"id": "b", "text": "y", "priority": 2}\n', "d.jsonl"
    )
    assert report.ok and report.created == 2
    assert Item.objects.get(external_id="b").priority == 2
    assert Item.objects.get(external_id="a").payload == {"text": "x"}


def test_csv_with_bom_and_gold_rows(project):
    text = '\ufeffid,text,kind,gold\n1,hello,regular,\n2,check,gold,"{""choice"": ""a""}"\n'
    report = run(project, text, "d.csv")
    assert report.ok, report.errors
    assert Item.objects.get(external_id="2").gold_value == {"choice": "a"}


def test_a_bad_row_names_its_line_and_nothing_is_stored(project):
    text = '{"id": "a"}\n{"id": "b"\n{"text": "no id"}\n{"id": "a"}\n'
    report = run(project, text, "d.jsonl")
    assert report.created == 0
    assert [line for line, _ in report.errors] == [2, 3, 4]
    assert report.errors[2][1] == "duplicate id 'a': also on line 1"
    assert Item.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused_with_its_line(project):
    report = run(project, "id,text\n1,ok\n2,caf\xe9\n".encode("latin-1"), "d.csv")
    assert report.created == 0
    assert report.errors[0][0] == 3
    assert report.errors[0][1].startswith("the file is not UTF-8")  # the line once
    assert Item.objects.count() == 0


def test_an_unknown_extension_is_refused(project):
    report = run(project, "x", "d.xlsx")
    assert "unknown file type" in report.errors[0][1]


def test_a_utf16_file_is_refused_with_a_clear_message_for_any_task_type():
    import io

    from apps.core.importing import ImportFailed, iter_rows

    upload = io.BytesIO("id,text\n1,hello\n".encode("utf-16"))
    with pytest.raises(ImportFailed, match="UTF-16"):
        list(iter_rows(upload, "items.csv"))
