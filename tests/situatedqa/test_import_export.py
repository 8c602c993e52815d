"""The official files in and out through the Data tab, the import API and the Export tab:
re-exporting an imported official file gives the same bytes, every field quirk kept."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token

from apps.core.models import Item
from apps.situatedqa.contexts import parse_date
from apps.situatedqa.models import FinishedContext
from ml.situatedqa import formats

from .conftest import nq_open_bytes, shipped, upload

pytestmark = pytest.mark.django_db

KINDS = [(layout, variant) for layout in ("id", "qa", "raw") for variant in ("temp", "geo")]


def _data_tab(client, project, content: bytes, name: str):
    return client.post(
        reverse("dashboard:data", args=[project.slug]),
        {"file": SimpleUploadedFile(name, content)},
    )


def _native(client, project, what: str) -> bytes:
    response = client.get(reverse("dashboard:export_download", args=[project.slug, what, "native"]))
    assert response.status_code == 200, what
    assert response["Content-Disposition"].endswith(f'{what}.jsonl"')
    return b"".join(response.streaming_content)


def test_the_official_subset_files_export_to_the_same_bytes(client, owner, sqa_project):
    project = sqa_project()
    client.force_login(owner)
    for layout, variant in [("id", "temp"), ("id", "geo"), ("qa", "temp"), ("qa", "geo")]:
        # Named as a browser sends it: the file name alone, not data/qa_data/…
        response = _data_tab(client, project, shipped(layout, variant), f"{variant}.dev.jsonl")
        assert response.status_code == 200, response.content.decode()[-800:]
        assert 'id="import-ok"' in response.content.decode()
    assert Item.objects.filter(project=project).count() == 146 + 85  # the id_data questions
    assert FinishedContext.objects.filter(project=project).count() == 240 + 117
    for layout, variant in [("id", "temp"), ("id", "geo"), ("qa", "temp"), ("qa", "geo")]:
        assert _native(client, project, f"{layout}_data-{variant}") == shipped(layout, variant)


def test_values_keep_their_types_and_mojibake_through_the_database(client, owner, sqa_project):
    project = sqa_project()
    upload(project, shipped("qa", "temp"), "upload.jsonl")
    stored = list(FinishedContext.objects.filter(project=project).values_list("row", flat=True))
    assert {type(row["id"]) for row in stored} == {int}
    assert any("Ã" in answer for row in stored for answer in row["answer"])
    client.force_login(owner)
    body = _native(client, project, "qa_data-temp")
    assert b"\\u00c3" in body and "Ã".encode() not in body  # ensure_ascii, as released


def test_the_import_api_reads_a_raw_body_by_its_content(client, owner, sqa_project):
    project = sqa_project()
    token = Token.objects.create(user=owner)
    response = client.post(
        f"/api/projects/{project.slug}/items/import/?type=jsonl",
        data=shipped("raw", "geo"),
        content_type="application/x-ndjson",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 30
    item = Item.objects.get(project=project, external_id="geo:9188546442463987107")
    assert item.stage == "identify" and item.wanted_answers == 3
    assert item.payload["given"] == {"location": "maryland", "answers": ["10 grams or less"]}
    assert item.payload["nq_question"] == "what is the legal amount of weed in maryland"
    first = json.loads(shipped("raw", "geo").splitlines()[0])
    assert item.payload["official"]["raw"] == first


def test_an_id_data_question_imported_again_from_raw_data_gets_the_row(sqa_project):
    project = sqa_project()
    assert upload(project, shipped("id", "temp"), "temp.dev.jsonl").created == 146
    report = upload(project, shipped("raw", "temp"), "temp.dev.jsonl")
    assert report.ok, report.errors
    assert report.created == 0 and "90 question(s) already in the project" in " ".join(report.notes)
    item = Item.objects.get(project=project, external_id="temp:-7924170207595297549")
    assert set(item.payload["official"]) == {"id_row", "raw"}
    assert item.payload["nq_answers"] == ["2018"]
    again = upload(project, shipped("raw", "temp"), "temp.dev.jsonl")
    assert not again.ok and again.errors[0][0] == 1
    assert "already in the project" in again.errors[0][1]


def test_a_qa_file_imported_twice_is_refused_the_second_time(sqa_project):
    project = sqa_project()
    assert upload(project, shipped("qa", "geo"), "geo.dev.jsonl").ok
    report = upload(project, shipped("qa", "geo"), "geo.dev.jsonl")
    assert not report.ok and len(report.errors) == 117
    assert report.errors[0] == (1, "this row is already in the project (from geo.dev.jsonl)")
    assert FinishedContext.objects.filter(project=project).count() == 117


def test_a_variant_the_project_does_not_run_is_refused(sqa_project):
    project = sqa_project(variants="temp")
    report = upload(project, shipped("id", "geo"), "geo.dev.jsonl")
    assert not report.ok and report.errors[0][0] == 0
    assert "geographic questions" in report.errors[0][1]
    assert not Item.objects.filter(project=project).exists()


MALFORMED = (
    b'{"question": "who won the cup", "source_dataset": "nq_table.open", "is_dependent": "no", "id": 1}\n'
    b'{"question": "who is the king", "source_dataset": "nq_table.open", "is_dependent": "yes", "id": 2}\n'
    b'{"question": "broken", "is_dependent": \n'
    b'{"source_dataset": "nq_table.open", "is_dependent": "no", "id": 4}\n'
    b'{"question": "who wins", "source_dataset": "nq_table.open", "is_dependent": "no", "id": 5}\n'
)


def test_malformed_jsonl_is_a_report_naming_its_lines_and_nothing_is_imported(
    client, owner, sqa_project
):
    project = sqa_project()
    client.force_login(owner)
    response = _data_tab(client, project, MALFORMED, "temp.dev.jsonl")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was stored" in html
    rows = html.split('id="import-errors"')[1].split("</table>")[0]
    assert '<td class="num">3</td><td>not valid JSON' in rows
    assert '<td class="num">4</td><td>missing &quot;question&quot;</td>' in rows
    assert rows.count('<td class="num">') == 2
    assert not Item.objects.filter(project=project).exists()


def test_a_malformed_qa_file_stores_no_context(sqa_project):
    project = sqa_project()
    lines = shipped("qa", "temp").splitlines(keepends=True)
    bad = b"".join([lines[0], lines[1].replace(b'"date_type": "sampled_year"', b'"date_type": 7')])
    report = upload(project, bad + lines[2], "qa.jsonl")
    assert report.errors == [
        (2, '"date_type" must be one of orig, sampled_year, sampled_date, start')
    ]
    assert not FinishedContext.objects.filter(project=project).exists()


def test_a_question_list_in_jsonl_and_csv_goes_to_stage_one(sqa_project):
    project = sqa_project()
    jsonl = (
        b'{"question": "who is the mayor", "id": "m-1", "variant": "temp"}\n'
        b'{"question": "what is the minimum wage", "answer": ["$7.25"], "variant": "geo", '
        b'"location": "United States"}\n'
        b'{"question": "who won the league"}\n'
    )
    report = upload(project, jsonl, "mine.jsonl")
    assert report.ok and report.created == 4  # the last row goes to both variants
    wage = Item.objects.get(project=project, payload__question="what is the minimum wage")
    assert wage.payload["given"] == {"location": "United States", "answers": ["$7.25"]}
    league = Item.objects.filter(project=project, payload__question="who won the league")
    assert sorted(i.payload["variant"] for i in league) == ["geo", "temp"]
    assert len({i.payload["id"] for i in league}) == 1  # the same made-up id in both
    csv_bytes = b'question,id,variant,answer\nwho leads the party,7,temp,"[""A"", ""B""]"\n'
    report = upload(project, csv_bytes, "mine.csv")
    assert report.ok and report.created == 1
    item = Item.objects.get(project=project, external_id="temp:7")
    assert item.payload["nq_answers"] == ["A", "B"] and item.payload["id"] == 7


def test_a_bad_question_list_names_its_lines(sqa_project):
    project = sqa_project()
    report = upload(project, b'[{"question": "q"}]', "mine.json")
    assert report.errors == [
        (0, "mine.json: SituatedQA imports JSON lines (.jsonl) and CSV (.csv) files.")
    ]
    jsonl = b'{"question": "ok"}\n{"question": "x", "variant": "time"}\n{"id": 3}\n'
    report = upload(project, b"text,id\nwho is it,1\n", "mine.csv")
    assert report.errors == [(1, 'the header has no "question" column')]
    report = upload(project, jsonl, "mine.jsonl")
    assert report.errors == [(3, 'missing "question"')]
    report = upload(project, jsonl.replace(b'{"id": 3}', b'{"question": "y"}'), "mine.jsonl")
    assert report.errors == [(2, '"variant" must be "temp" or "geo"')]
    assert not Item.objects.filter(project=project).exists()


def test_nq_open_files_import_as_google_jsonl_and_as_dpr_csv(sqa_project):
    project = sqa_project(variants="temp")
    report = upload(project, nq_open_bytes(), "pre_2019.dev.jsonl")
    assert report.ok and report.created == 20
    first = json.loads(nq_open_bytes().splitlines()[0])
    item = Item.objects.get(project=project, external_id=f"temp:{first['id']}")
    assert item.payload["nq_answers"] == first["answer"]
    dpr = "who got the first nobel prize in physics\t['Wilhelm Conrad Röntgen']\nbad line\n"
    report = upload(project, dpr.encode(), "nq-test.csv")
    assert report.errors == [(2, "expected a question, a tab and a list of answers")]
    report = upload(project, dpr.splitlines()[0].encode(), "nq-test.csv")
    assert report.ok and report.created == 1
    item = Item.objects.get(project=project, payload__question__startswith="who got the first")
    assert item.payload["nq_answers"] == ["Wilhelm Conrad Röntgen"]


@pytest.mark.parametrize("variant", ["temp", "geo"])
def test_edited_questions_equal_the_official_ones_for_every_shipped_row(variant):
    # The context as a collector would type it ("April 7, 2019", "Texas"), read back and
    # written as the release writes it, gives the release's edited_question byte for byte.
    rows = formats.read_official(
        shipped("qa", variant),
        layout="qa",
        variant=variant,  # type: ignore[arg-type]
    )
    raw = formats.read_official(shipped("raw", variant), layout="raw", variant=variant)  # type: ignore[arg-type]
    pairs = [(r["question"], p) for r in raw for p in r["context_answer_pairs"]]
    checked = 0
    for question, row in [(r["question"], r) for r in rows] + pairs:
        if variant == "temp":
            typed = row["date"].replace(" 0", " ")  # "April 07, 2019" typed as "April 7, 2019"
            context = parse_date(typed).text
        else:
            context = row["location"]
        ours = formats.context_pair(
            variant=variant,
            question=question,
            context=context,
            answers=row.get("answer", row.get("answers")),
            date_type=row.get("date_type"),
        )["edited_question"]
        assert ours.encode() == row["edited_question"].encode()
        checked += 1
    assert checked == len(rows) + len(pairs) > 100
