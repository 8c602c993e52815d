"""The official layouts written from the crowd's answers: id_data with the crowd's decisions,
qa_data that extends imported official rows without repeating their contexts, and raw_data
with every stage's answers beside the release's keys."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from apps.core.models import Item
from ml.situatedqa import formats

from .conftest import BENEFITS, ENGLAND, WEED, shipped, upload

pytestmark = pytest.mark.django_db


def _download(client, project, what: str, fmt: str = "native") -> bytes:
    url = reverse("dashboard:export_download", args=[project.slug, what, fmt])
    response = client.get(url)
    assert response.status_code == 200
    return b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in response.streaming_content
    )


def test_the_exports_write_the_crowds_work_in_the_official_layouts(study, client, owner):
    client.force_login(owner)
    # id_data: the crowd's decisions, in the official layout and key order
    ids = formats.read_official(_download(client, study, "id_data-geo"), layout="id", variant="geo")
    assert [(r["id"], r["is_dependent"]) for r in ids] == [(WEED, "yes"), (BENEFITS, "no")]
    assert list(ids[0]) == ["question", "is_dependent", "id"]

    # raw_data: a line per decided question, the release's keys first, then the stages
    raw_bytes = _download(client, study, "raw_data-temp")
    raw = formats.read_official(raw_bytes, layout="raw", variant="temp")
    england = next(r for r in raw if r["id"] == ENGLAND)
    assert list(england)[:8] == [f.name for f in formats.SCHEMAS[("raw", "temp")]]
    assert england["is_dependent"] is True and england["decision"] == "dependent"
    (timeline,) = england["timelines"]  # B's response was rejected
    assert timeline["cur_answers"] == ["2018"] and timeline["prev_answers"] == ["1990 World Cup"]
    assert timeline["cur_start"] == {"year": 2018, "month": None, "date": None}
    assert [c["outcome"] for c in england["collected"]] == ["accepted", "rejected"]
    assert [v["dependent"] for v in england["identify_answers"]] == ["yes", "yes", "maybe"]
    static = next(r for r in raw if r["decision"] == "not dependent")
    assert static["timelines"] is None and static["cur_answers"] == static["nq_answers"]
    (pair,) = static["context_answer_pairs"]
    assert pair["date_type"] == "orig"
    assert formats.dumps_official(raw, layout="raw", variant="temp") == raw_bytes

    geo_raw = formats.read_official(
        _download(client, study, "raw_data-geo"), layout="raw", variant="geo"
    )
    weed = next(r for r in geo_raw if r["id"] == WEED)
    assert weed["nq_context_answer_pair"] == {
        "location": "maryland",
        "answers": ["10 grams or less"],
        "is_valid": True,  # A said right, B's correction said right
    }
    assert [c["outcome"] for c in weed["collected"]] == ["accepted", "corrected"]

    # the same rows as CSV, one per record, lists as JSON cells
    rows = list(
        csv.DictReader(io.StringIO(_download(client, study, "raw_data-geo", "csv").decode()))
    )
    assert len(rows) == len(geo_raw)
    assert json.loads(rows[0]["context_answer_pairs"]) == geo_raw[0]["context_answer_pairs"]


def test_imported_qa_rows_come_back_as_they_were_and_the_crowd_adds_only_new_contexts(
    study, client, owner
):
    client.force_login(owner)
    crowd = [json.loads(line) for line in _download(client, study, "qa_data-geo").splitlines()]
    assert {r["location"] for r in crowd} == {"maryland", "Texas", "Connecticut", "washington d.c."}
    assert upload(study, shipped("qa", "geo"), "geo.dev.jsonl").ok
    # Every context the crowd made for this question is in the official file already: the
    # export is the official file, byte for byte; the crowd's answers are scored, not added.
    assert _download(client, study, "qa_data-geo") == shipped("qa", "geo")
    texas = Item.objects.get(external_id=f"geo:{WEED}")
    assert texas.payload["official"]["raw"]["id"] == WEED


def test_new_answers_per_stage_apply_to_the_items_nobody_answered(study):
    from apps.dashboard.services import project_settings_update
    from apps.situatedqa.tasktype import SITUATEDQA

    assert upload(study, b'{"question": "who is the mayor", "variant": "temp"}\n', "q.jsonl").ok
    config = SITUATEDQA.clean_config({**study.config, "identify_answers": 5})
    message = project_settings_update(project=study, config=config)
    assert message == "1 item(s) nobody has answered yet now want the new number of answers."
    fresh = Item.objects.get(project=study, payload__question="who is the mayor")
    assert fresh.wanted_answers == 5
    answered = Item.objects.filter(project=study, stage="identify").exclude(pk=fresh.pk)
    assert set(answered.values_list("wanted_answers", flat=True)) == {3}
