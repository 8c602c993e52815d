"""Imports that used to crash or lie: chunked and empty bodies, broken CSV and zips, short
rows, endless lines, racing duplicates, and large files that belong on the worker."""

from __future__ import annotations

import io
import json
import struct
import threading
import zipfile

import pytest
from django.db import connections
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.models import Item, Job
from apps.dashboard import services
from apps.dashboard.tasks import items_import_job

pytestmark = pytest.mark.django_db


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}")
    return client


def _url(project, fmt: str = "") -> str:
    return f"/api/projects/{project.slug}/items/import/" + (f"?type={fmt}" if fmt else "")


def _reason(response) -> str:
    return " | ".join(e["reason"] for e in response.json()["errors"])


def test_a_chunked_upload_is_refused_with_411_not_imported_as_nothing(live_server, researcher):
    import httpx

    from tests.factories import ProjectFactory

    project = ProjectFactory(owner=researcher, slug="chunky")
    token = Token.objects.create(user=researcher)

    def body():
        yield b'{"id": "a", "text": "x"}\n'
        yield b'{"id": "b", "text": "y"}\n'

    response = httpx.post(
        f"{live_server.url}{_url(project, 'jsonl')}",
        content=body(),  # a generator: httpx sends Transfer-Encoding: chunked
        headers={"Authorization": f"Token {token.key}", "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 411, response.text
    assert "Content-Length" in response.json()["errors"][0]["reason"]
    assert Item.objects.count() == 0


def test_an_empty_body_or_a_file_with_no_items_is_a_400(project, researcher):
    api = _api(researcher)
    empty = api.post(_url(project, "jsonl"), b"", content_type="application/x-ndjson")
    assert empty.status_code == 400 and "empty" in _reason(empty)
    blank = api.post(_url(project, "jsonl"), b"\n\n", content_type="application/x-ndjson")
    assert blank.status_code == 400 and "no items" in _reason(blank)
    upload = io.BytesIO(b"")
    upload.name = "none.csv"
    multipart = api.post(_url(project), {"file": upload}, format="multipart")
    assert multipart.status_code == 400


def test_a_large_api_import_becomes_a_job_with_its_url(project, researcher, monkeypatch):
    monkeypatch.setattr(services, "INLINE_IMPORT_BYTES", 100)
    sent = []
    monkeypatch.setattr(items_import_job, "delay", lambda *args: sent.append(args))
    rows = "".join(json.dumps({"id": f"r{i}", "text": "t"}) + "\n" for i in range(200))
    api = _api(researcher)
    response = api.post(_url(project, "jsonl"), rows.encode(), content_type="application/x-ndjson")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert job.status == Job.Status.QUEUED and Item.objects.count() == 0
    assert response.json()["url"] == f"/api/projects/{project.slug}/jobs/{job.pk}/"
    items_import_job.apply(args=[job.pk])  # what the worker runs
    polled = api.get(response.json()["url"]).json()
    assert polled["status"] == "succeeded" and polled["result"]["created"] == 200
    assert Item.objects.count() == 200


def test_an_unterminated_quote_in_a_csv_is_a_400_that_says_so(project, researcher):
    data = b'id,text\na,"this quote never closes\n' + b"b,more text\n" * 20000
    response = _api(researcher).post(_url(project, "csv"), data, content_type="text/csv")
    assert response.status_code == 400
    assert "never closed" in _reason(response)
    assert Item.objects.count() == 0


def test_a_short_csv_row_is_an_error_naming_its_line_and_columns(project, researcher):
    data = b"id,text,source,notes\na,one,web,x\nb,two\n"
    response = _api(researcher).post(_url(project, "csv"), data, content_type="text/csv")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["line"] == 3
    assert "2 of 4 cells" in error["reason"] and "'source', 'notes'" in error["reason"]
    assert Item.objects.count() == 0


def test_a_line_longer_than_the_cap_is_refused_while_it_is_read(project, researcher, monkeypatch):
    from apps.core import importing

    monkeypatch.setattr(importing, "MAX_LINE_CHARS", 10_000)
    reads: list[int] = []
    original = importing._text

    def counting(upload, **kwargs):
        class Counting(io.RawIOBase):
            def read(self, size=-1):
                data = upload.read(size)
                reads.append(len(data))
                return data

        return original(Counting(), **kwargs)

    monkeypatch.setattr(importing, "_text", counting)
    data = b'{"id": "a", "text": "' + b"x" * 1_500_000 + b'"}\n'
    response = _api(researcher).post(
        _url(project, "jsonl"), data, content_type="application/x-ndjson"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["line"] == 1
    assert _reason(response).startswith("longer than 10,000 characters")
    assert sum(reads) < 100_000  # stopped after the cap, not after 1.5 MB


def _zip(rows: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("items.jsonl", rows)
    return buffer.getvalue()


ROWS = b"".join(json.dumps({"id": f"z{i}", "text": "t" * 40}).encode() + b"\n" for i in range(50))


def _flip_data_byte(data: bytes) -> bytes:
    at = data.index(b'"z10"')  # inside the stored (uncompressed) member
    return data[:at] + b"Q" + data[at + 1 :]


def _forge_sizes(data: bytes) -> bytes:
    """Claim in both headers that the member is 100 bytes long (it is ~2.6 kB)."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    struct.pack_into("<I", out, local + 22, 100)  # uncompressed size
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, 100)
    return bytes(out)


@pytest.mark.parametrize("damage", [_flip_data_byte, _forge_sizes], ids=["bad-crc", "forged"])
def test_a_damaged_zip_is_a_400_naming_the_damage(project, researcher, damage):
    data = damage(_zip(ROWS))
    response = _api(researcher).post(_url(project, "zip"), data, content_type="application/zip")
    assert response.status_code == 400, response.content
    assert "damaged" in _reason(response) or "not a valid zip" in _reason(response)
    assert Item.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_identical_imports_at_once_store_one_copy_and_the_others_say_already_imported(
    project, researcher
):
    rows = "".join(json.dumps({"id": f"d{i}", "text": "t"}) + "\n" for i in range(3000))
    token = Token.objects.get_or_create(user=researcher)[0]
    start = threading.Barrier(3)
    answers: list = []

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            start.wait()
            response = client.post(
                _url(project, "jsonl"), rows.encode(), content_type="application/x-ndjson"
            )
            answers.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in answers)
    assert codes == [201, 400, 400], answers
    for code, body in answers:
        if code == 400:
            assert "already" in body["errors"][0]["reason"]  # has an item with this id, or imported
    assert Item.objects.filter(project=project).count() == 3000
