"""The Data tab tells a new researcher what to upload: formats, a sample file, a plain report."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import Item
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, researcher):
    client.force_login(researcher)
    return client


def _upload(client, project, name: str, data: bytes):
    return client.post(
        reverse("dashboard:data", args=[project.slug]), {"file": SimpleUploadedFile(name, data)}
    )


def test_the_tab_shows_the_task_types_formats_and_its_sample_imports_cleanly(signed_in, project):
    page = signed_in.get(reverse("dashboard:data", args=[project.slug])).content.decode()
    assert 'id="format-jsonl"' in page and "The question shown above the two choices." in page
    assert "required" in page and "{&quot;id&quot;: &quot;q1&quot;" in page  # the example row
    url = reverse("dashboard:import_sample", args=[project.slug, "jsonl"])
    assert url in page
    sample = signed_in.get(url)
    assert sample["Content-Disposition"] == 'attachment; filename="sample-jsonl.jsonl"'
    body = sample.content
    rows = [json.loads(line) for line in body.decode().splitlines()]
    response = _upload(signed_in, project, "sample-jsonl.jsonl", body)
    assert response.status_code == 200, response.context["report"]
    assert response.context["report"]["created"] == len(rows) == 3
    assert Item.objects.get(external_id="g1").gold_value == {"choice": "a"}
    assert (
        signed_in.get(reverse("dashboard:import_sample", args=[project.slug, "x"])).status_code
        == 404
    )


def test_the_preview_shows_json_and_the_reason_of_an_unreadable_row(signed_in, project):
    data = b'{"id": "a", "text": "caf\xc3\xa9", "ok": true}\n{"id": "b"\n'
    response = _upload(signed_in, project, "items.jsonl", data)
    html = response.content.decode()
    assert (
        "{&quot;id&quot;: &quot;a&quot;, &quot;text&quot;: &quot;café&quot;, &quot;ok&quot;: true}"
        in html
    )
    assert "True" not in html and "'id'" not in html  # no Python repr
    assert "__error__" not in html
    assert "Unreadable: not valid JSON" in html


def test_duplicate_ids_are_reported_as_duplicates_with_their_lines(signed_in, project):
    ItemFactory(project=project, external_id="old")
    data = b'{"id": "x", "text": "1"}\n{"id": "y", "text": "2"}\n{"id": "x", "text": "3"}\n{"id": "old"}\n'
    report = _upload(signed_in, project, "items.jsonl", data).context["report"]
    assert report["errors"] == [
        {"line": 3, "reason": "duplicate id 'x': also on line 1"},
        {"line": 4, "reason": "duplicate id 'old': the project already has an item with this id"},
    ]
    assert project.items.count() == 1


def test_the_report_says_what_was_stored(signed_in, project):
    response = _upload(signed_in, project, "items.jsonl", b'{"id": "a", "text": "t"}\n')
    assert "1 item stored." in response.content.decode()
    bad = _upload(signed_in, project, "items.jsonl", b'{"id": "b"}\n{"text": "no id"}\n')
    assert "Nothing was stored." in bad.content.decode()
    assert not Item.objects.filter(external_id="b").exists()


def test_items_are_paged_and_searchable(signed_in, project):
    for n in range(45):
        ItemFactory(project=project, external_id=f"it-{n:02d}", payload={"text": f"text {n}"})
    ItemFactory(project=project, external_id="zebra", payload={"text": "A striped horse"})
    url = reverse("dashboard:data", args=[project.slug])
    first = signed_in.get(url).content.decode()
    assert "Items 1–20 of 46" in first and "it-00" in first and "it-20" not in first
    third = signed_in.get(url, {"page": 3}).content.decode()
    assert "Items 41–46 of 46" in third and "zebra" in third and "it-00" not in third
    found = signed_in.get(url, {"q": "STRIPED"}).content.decode()
    assert "zebra" in found and "it-01" not in found and "Items 1–1 of 1" in found
    assert "No item matches" in signed_in.get(url, {"q": "nothing-like-this"}).content.decode()
