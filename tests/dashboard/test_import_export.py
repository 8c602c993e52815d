"""Uploads on the Data tab (report, preview, zip with media, the worker path) and downloads."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import Annotation, Item, Job
from apps.dashboard import services
from apps.dashboard.tasks import items_import_job
from tests.api.helpers import PNG, bulk_answers, make_zip

pytestmark = pytest.mark.django_db


def upload(client, project, name, data: bytes | str, **extra):
    data = data.encode() if isinstance(data, str) else data
    return client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile(name, data)},
        **extra,
    )


@pytest.fixture
def signed_in(client, researcher):
    client.force_login(researcher)
    return client


def test_an_upload_is_imported_and_previewed(signed_in, project):
    response = upload(
        signed_in,
        project,
        "items.jsonl",
        '{"id": "a", "text": "first"}\n{"id": "b", "text": "second"}\n',
    )
    assert response.status_code == 200
    assert response.context["report"]["created"] == 2
    assert [row["line"] for row in response.context["preview"]] == [1, 2]
    assert b"2 items stored." in response.content
    assert list(project.items.values_list("external_id", flat=True).order_by("id")) == ["a", "b"]


def test_the_report_lists_every_bad_row_with_its_line_and_nothing_is_stored(signed_in, project):
    text = "id,text,kind,priority\n1,ok,regular,\n,no id,regular,\n3,x,golden,\n4,y,regular,high\n"
    response = upload(signed_in, project, "items.csv", text)
    assert response.status_code == 400
    errors = response.context["report"]["errors"]
    assert [e["line"] for e in errors] == [3, 4, 5]
    assert "missing 'id'" in errors[0]["reason"]
    assert "golden" in errors[1]["reason"] and "priority" in errors[2]["reason"]
    assert b"Nothing was stored" in response.content and b'id="import-errors"' in response.content
    assert Item.objects.count() == 0


def test_a_file_in_the_wrong_encoding_is_refused_with_its_line(signed_in, project):
    response = upload(
        signed_in, project, "items.csv", "id,text\n1,ok\n2,caf\xe9\n".encode("latin-1")
    )
    assert response.status_code == 400
    assert response.context["report"]["errors"][0] == {
        "line": 3,
        "reason": "the file is not UTF-8 text. Save it as UTF-8 (CSV UTF-8 in Excel) and upload it "
        "again.",
    }
    assert Item.objects.count() == 0


def test_an_oversized_file_is_refused_before_import(signed_in, project, settings):
    settings.CHORUS_MAX_UPLOAD_BYTES = 100
    response = upload(signed_in, project, "items.jsonl", '{"id": "a"}\n' * 20)
    assert response.status_code == 400
    assert "the limit is" in response.context["report"]["errors"][0]["reason"]
    assert Item.objects.count() == 0


def test_an_unknown_file_type_is_refused(signed_in, project):
    response = upload(signed_in, project, "items.xlsx", b"PK\x03\x04")
    assert "unknown file type" in response.context["report"]["errors"][0]["reason"]


def test_a_zip_brings_its_media_into_storage(signed_in, project, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = make_zip(
        {
            "study/items.jsonl": '{"id": "a", "media": "img/a.png"}\n{"id": "b", "text": "no media"}\n',
            "study/img/a.png": PNG,
        }
    )
    response = upload(signed_in, project, "study.zip", data)
    assert response.status_code == 200, response.context["report"]
    media = Item.objects.get(external_id="a").media_files.get()
    assert media.key == "main" and media.content_type == "image/png"
    assert re.fullmatch(rf"items/{project.pk}/[0-9a-f]{{32}}\.png", media.file.name)
    assert media.file.read() == PNG
    assert "1 media files attached." in response.context["report"]["notes"]


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ({"items.jsonl": '{"id": "a"}\n', "../evil.png": PNG}, "outside their folder"),
        ({"items.jsonl": '{"id": "a"}\n', "/etc/evil.png": PNG}, "absolute"),
        ({"items.jsonl": '{"id": "a"}\n', "run.sh": b"#!/bin/sh"}, "not allowed"),
        ({"a.jsonl": '{"id": "a"}\n', "b.csv": "id\n1\n"}, "exactly one data file"),
        ({"items.jsonl": '{"id": "a", "media": "missing.png"}\n'}, "not in the zip"),
        ({"items.jsonl": '{"id": "a", "media": "../x.png"}\n', "x.png": PNG}, "not in the zip"),
        ({"items.jsonl": "0" * 5_000_000}, "zip bomb"),
    ],
)
def test_an_unsafe_or_incomplete_zip_is_refused_and_stores_nothing(
    signed_in, project, settings, tmp_path, entries, reason
):
    settings.MEDIA_ROOT = tmp_path
    response = upload(signed_in, project, "bad.zip", make_zip(entries))
    assert response.status_code == 400
    assert reason in response.context["report"]["errors"][0]["reason"]
    assert Item.objects.count() == 0
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_a_large_upload_runs_on_the_worker_with_a_progress_bar(
    signed_in, project, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    sent = []
    monkeypatch.setattr(items_import_job, "delay", lambda *args: sent.append(args))
    rows = "".join(json.dumps({"id": f"r{i}", "text": "t"}) + "\n" for i in range(3000))
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(signed_in, project, "big.jsonl", rows)
    job = response.context["job"]
    assert sent == [(job.pk,)] and Item.objects.count() == 0
    assert b'hx-trigger="every 1s"' in response.content
    items_import_job.apply(args=[job.pk])  # what the worker runs, in process
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result["created"] == 3000
    assert Item.objects.count() == 3000
    poll = signed_in.get(reverse("dashboard:job_status", args=[project.slug, job.pk]))
    assert b"3000 items stored." in poll.content and b"hx-trigger" not in poll.content
    items_import_job.apply(args=[job.pk])  # delivered twice: nothing happens
    assert Item.objects.count() == 3000


def test_a_failed_worker_import_keeps_its_report(signed_in, project, monkeypatch):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    monkeypatch.setattr(items_import_job, "delay", lambda *args: None)
    response = upload(signed_in, project, "big.jsonl", '{"id": "a"}\n{"id": "a"}\n')
    job = response.context["job"]
    items_import_job.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.result["errors"][0]["line"] == 2
    assert Item.objects.count() == 0


def test_a_viewer_cannot_upload(client, project, viewer):
    client.force_login(viewer)
    assert upload(client, project, "items.jsonl", '{"id": "a"}\n').status_code == 404
    assert Item.objects.count() == 0


def test_the_annotations_export_equals_what_the_database_holds(client, project, viewer):
    total = bulk_answers(project, items=700, workers=5)
    assert total == 3500
    client.force_login(viewer)
    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "annotations", "jsonl"])
    )
    assert response.streaming and response["Content-Type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    stored = list(
        Annotation.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "item__external_id", "participant__public_id", "value", "duration_ms")
    )
    assert [
        (r["annotation_id"], r["item_id"], r["participant_id"], r["value"], r["duration_ms"])
        for r in records
    ] == [(a, i, str(p), v, d) for a, i, p, v, d in stored]

    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "annotations", "csv"])
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == total
    assert [json.loads(r["value"]) for r in rows] == [v for _, _, _, v, _ in stored]
    assert {r["label"] for r in rows} == {"a", "b"}


def test_csv_cells_that_start_like_a_formula_are_neutralised(client, project, viewer):
    Item.objects.create(project=project, external_id='=HYPERLINK("http://x")', payload={})
    Item.objects.create(project=project, external_id="-2+3", payload={})
    Item.objects.create(project=project, external_id="@SUM(A1)", payload={})
    Item.objects.create(project=project, external_id="+1", payload={})
    from tests.api.helpers import answer_through_engine
    from tests.factories import ParticipantFactory

    answer_through_engine(
        ParticipantFactory(project=project, external_id="=cmd|' /C calc'!A0"), lambda item: "a"
    )
    client.force_login(viewer)
    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "annotations", "csv"])
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted(r["item_id"] for r in rows) == sorted(
        ['\'=HYPERLINK("http://x")', "'-2+3", "'@SUM(A1)", "'+1"]
    )
    assert {r["participant_external_id"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["duration_ms"].lstrip("-").isdigit() for r in rows} == {True}


def test_the_task_types_records_and_aggregates_download(client, project, viewer):
    bulk_answers(project, items=3, workers=3, value={"choice": "b"})
    client.force_login(viewer)
    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "aggregates-dawid_skene", "csv"])
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["item_id"], r["label"], r["answers"]) for r in rows] == [
        ("bulk-0", "b", "3"),
        ("bulk-1", "b", "3"),
        ("bulk-2", "b", "3"),
    ]
    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "records", "jsonl"])
    )
    assert response.status_code == 200  # test-choice's own record set: one row per item
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert rows == [{"id": f"bulk-{i}", "answers": 3} for i in range(3)]
    assert (
        client.get(
            reverse("dashboard:export_download", args=[project.slug, "secrets", "csv"])
        ).status_code
        == 404
    )


def test_an_outsider_cannot_download(client, project, outsider):
    client.force_login(outsider)
    response = client.get(
        reverse("dashboard:export_download", args=[project.slug, "annotations", "csv"])
    )
    assert response.status_code == 404


def test_an_import_cancelled_while_it_runs_stores_nothing(
    signed_in, project, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.dashboard import tasks

    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    monkeypatch.setattr(items_import_job, "delay", lambda *args: None)
    monkeypatch.setattr(tasks, "PROGRESS_EVERY_S", 0.01)
    rows = "".join(json.dumps({"id": f"r{i}", "text": "t"}) + "\n" for i in range(3000))
    response = upload(signed_in, project, "big.jsonl", rows)
    job = response.context["job"]
    assert b"Cancel import" in response.content
    real_import = tasks.items_import_now

    def researcher_cancels_meanwhile(**kwargs):
        # The researcher clicks Cancel while the worker is importing.
        page = signed_in.post(
            reverse("dashboard:job_cancel", args=[project.slug, job.pk]), HTTP_HX_REQUEST="true"
        )
        assert b"Cancelled" in page.content and b"Cancel import" not in page.content
        import time

        time.sleep(0.2)  # the worker's watcher sees it
        return real_import(**kwargs)

    monkeypatch.setattr(tasks, "items_import_now", researcher_cancels_meanwhile)
    items_import_job.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert Item.objects.count() == 0


def test_a_viewer_cannot_cancel_an_import(client, project, viewer, monkeypatch):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 10)
    monkeypatch.setattr(items_import_job, "delay", lambda *args: None)
    client.force_login(project.owner)
    job = upload(client, project, "big.jsonl", '{"id": "a"}\n{"id": "b"}\n').context["job"]
    client.force_login(viewer)
    response = client.post(reverse("dashboard:job_cancel", args=[project.slug, job.pk]))
    assert response.status_code == 404
    assert Job.objects.get(pk=job.pk).status == Job.Status.QUEUED
