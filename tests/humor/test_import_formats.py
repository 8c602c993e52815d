"""Humor declares its own import formats, and each sample file imports every row cleanly."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import Item

pytestmark = pytest.mark.django_db


def test_humors_data_tab_names_reactions_gold_and_crowdtangle(client, humor_project):
    client.force_login(humor_project.owner)
    page = client.get(reverse("dashboard:data", args=[humor_project.slug])).content.decode()
    assert "<code>reactions</code>" in page
    assert "{&quot;funny&quot;: &quot;yes&quot;}" in page
    assert "CrowdTangle Facebook export (CSV)" in page
    assert "<code>Message</code>" in page and "<code>URL</code>" in page


@pytest.mark.parametrize("key", ["posts-jsonl", "crowdtangle-csv"])
def test_each_sample_file_downloads_and_imports_every_row(client, humor_project, key):
    client.force_login(humor_project.owner)
    sample = client.get(reverse("dashboard:import_sample", args=[humor_project.slug, key]))
    assert sample.status_code == 200
    body = sample.content.decode()
    if key.endswith("csv"):
        rows = list(csv.DictReader(io.StringIO(body)))
        ids = {r["URL"].rsplit("/", 1)[-1] for r in rows}
    else:
        rows = [json.loads(line) for line in body.splitlines()]
        ids = {r["id"] for r in rows}
    filename = sample["Content-Disposition"].split('filename="')[1].rstrip('"')
    response = client.post(
        reverse("dashboard:data", args=[humor_project.slug]),
        {"file": SimpleUploadedFile(filename, sample.content)},
    )
    report = response.context["report"]
    assert report["errors"] == [] and report["created"] == len(rows)
    assert set(humor_project.items.values_list("external_id", flat=True)) == ids
    if key == "posts-jsonl":
        gold = dict(Item.objects.filter(kind="gold").values_list("external_id", "gold_value"))
        assert gold == {"gold-1": {"funny": "yes"}, "gold-2": {"funny": "no"}}
    assert "No row was left out by the cleaning rules." in response.content.decode()


def test_a_duplicate_post_is_reported_with_its_line(client, humor_project):
    client.force_login(humor_project.owner)
    lines = [
        {"id": "a", "text": "My cat runs the house now.", "reactions": {"haha": 3}},
        {"id": "b", "text": "The bus timetable changes on Monday.", "reactions": {"like": 3}},
        {"id": "a", "text": "Another text, same id.", "reactions": {"like": 1}},
    ]
    data = "\n".join(json.dumps(x) for x in lines).encode()
    response = client.post(
        reverse("dashboard:data", args=[humor_project.slug]),
        {"file": SimpleUploadedFile("posts.jsonl", data)},
    )
    html = response.content.decode()
    assert response.context["report"]["created"] == 2
    assert "duplicates of an earlier post (same id or text): line 3." in html
    assert "Not stored: 1 row (1 duplicate)" in html


def test_a_csv_that_is_not_a_crowdtangle_export_names_its_line_once(client, humor_project):
    client.force_login(humor_project.owner)
    response = client.post(
        reverse("dashboard:data", args=[humor_project.slug]),
        {"file": SimpleUploadedFile("posts.csv", b"id,text\n1,hello\n")},
    )
    (error,) = response.context["report"]["errors"]
    assert error["line"] == 1
    assert error["reason"].startswith("this is not a CrowdTangle Facebook export")
    html = response.content.decode()
    assert "Line 1" not in html and '<td class="num">1</td>' in html
