"""Uploading a QA model's predictions on the Evaluate page (Results → Evaluate): exact match
recomputed here with a normalisation written out by hand, missing and unknown rows named, a
malformed file refused whole, and the model next to the crowd on the Results page."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.models import Membership
from apps.situatedqa.models import Evaluation
from apps.situatedqa.tasktype import SITUATEDQA

from .conftest import shipped, upload
from .test_results import _exported, squad

pytestmark = pytest.mark.django_db

COMMON = set(
    "united states|india|united kingdom|australia|canada|china|new york|florida|japan|england|"
    "uk|germany|spain|georgia|france|new york city|alabama|russia|kentucky|ohio|us|california|"
    "texas|pakistan|mexico|new zealand|usa|israel".split("|")
)
UNKNOWN = {"id": 12345, "edited_question": "who asked this as of 2020", "pred_answer": "nobody"}


@pytest.fixture
def evaluated(study, client, owner):
    """The pipeline study with the official qa_data imported; the crowd's own final rows are
    read from the export first (once the official rows are in, it writes those instead)."""
    crowd = {v: _exported(client, owner, study, v) for v in ("temp", "geo")}
    for variant in ("temp", "geo"):
        assert upload(study, shipped("qa", variant), f"{variant}.dev.jsonl").ok
    return study, crowd


def _context(variant: str) -> str:
    return "date_type" if variant == "temp" else "location"


def predictions_for(gold: list[dict], variant: str) -> tuple[list[dict | None], list[dict]]:
    """Per gold row its prediction line (None: left out), and the file's lines in order.

    Right in another case with punctuation and an article, wrong, right only as any_answer,
    and the last answer; four rows whose context is unique are left out.
    """
    keys = [(r["id"], r["edited_question"], r[_context(variant)]) for r in gold]
    preds: list[dict | None] = []
    left_out = 0
    for i, row in enumerate(gold):
        if i % 4 == 3 and left_out < 4 and keys.count(keys[i]) == 1:
            left_out += 1
            preds.append(None)
            continue
        guess = [
            "The " + row["answer"][0].upper() + "!",
            "certainly not this",
            row["any_answer"][-1],
            row["answer"][-1],
        ][i % 4]
        preds.append({**row, "pred_answer": guess})
    assert left_out == 4
    lines = [p for p in preds if p is not None]
    return preds, lines[:5] + [UNKNOWN] + lines[5:]


def em_by_hand(gold: list[dict], preds: list[dict | None], variant: str) -> dict[str, list[int]]:
    cells: dict[str, list[int]] = {}

    def add(cell: str, right: bool) -> None:
        k, n = cells.get(cell, [0, 0])
        cells[cell] = [k + right, n + 1]

    for row, pred in zip(gold, preds, strict=True):
        guess = None if pred is None else squad(pred["pred_answer"])
        right = guess in {squad(a) for a in row["answer"]}
        if variant == "temp":
            kind = {"orig": "static", "start": "start"}.get(row["date_type"], "sampled")
        else:
            kind = "common" if squad(row["location"]) in COMMON else "rare"
        add(kind, right)
        add("total", right)
        add("any", guess in {squad(a) for a in row["any_answer"]})
    return cells


def _post(client, project, variant: str, lines: list, name: str = "preds.jsonl"):
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    return client.post(
        reverse("situatedqa:evaluate", args=[project.slug]),
        {"variant": variant, "file": SimpleUploadedFile(name, body)},
    )


@pytest.mark.parametrize("variant", ["temp", "geo"])
def test_exact_match_of_an_upload_equals_the_count_by_hand(evaluated, client, owner, variant):
    project, _ = evaluated
    gold = _exported(client, owner, project, variant)  # the final rows, as the export writes
    preds, lines = predictions_for(gold, variant)
    response = _post(client, project, variant, lines)
    assert response.status_code == 302, response.content.decode()[-2000:]

    expected = em_by_hand(gold, preds, variant)
    evaluation = Evaluation.objects.get(project=project, variant=variant)
    assert [c[1:] for c in evaluation.cells] == [
        expected.get(c[0], [0, 0]) for c in evaluation.cells
    ]
    assert [c[0] for c in evaluation.cells] == (
        ["static", "sampled", "start", "total", "any"]
        if variant == "temp"
        else ["common", "rare", "total", "any"]
    )
    assert expected["total"][1] == len(gold)
    assert 0 < expected["total"][0] < expected["any"][0] <= len(gold)

    html = client.get(response.url).content.decode()
    for k, n in expected.values():
        assert f"{k} / {n} = {100 * k / n:.1f}" in html
    missing = [row for row, pred in zip(gold, preds, strict=True) if pred is None]
    assert evaluation.missing_count == 4 and evaluation.unknown_count == 1
    assert [(m["id"], m["edited_question"]) for m in evaluation.missing] == [
        (r["id"], r["edited_question"]) for r in missing
    ]
    for row in missing:
        assert f"id {row['id']} &ldquo;" in html
    assert "4 final rows got no prediction" in html
    assert "line 6: id 12345" in html and "unknown id" in html  # the unknown line is the 6th


def test_a_malformed_file_names_its_lines_and_stores_nothing(evaluated, client, owner):
    project, _ = evaluated
    client.force_login(owner)
    gold = _exported(client, owner, project, "temp")
    good = [{**gold[0], "pred_answer": "2018"}, {**gold[1], "pred_answer": "2018"}]
    assert _post(client, project, "temp", good).status_code == 302
    before = Evaluation.objects.get(project=project).cells

    no_answer = dict(gold[3])
    bad = [good[0], good[1], '{"id": 1, "edited_question": ', good[0], no_answer]
    response = _post(client, project, "temp", bad, name="bad.jsonl")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not scored; nothing was stored." in html
    assert re.search(r"line 3: not valid JSON", html)
    assert "line 5: missing &quot;pred_answer&quot;" in html
    assert Evaluation.objects.get(project=project).cells == before  # the last one stays

    response = _post(client, project, "temp", good, name="preds.csv")
    assert response.status_code == 400 and "upload the predictions as JSON lines" in (
        response.content.decode()
    )


def test_only_members_who_write_may_upload(evaluated, client, viewer, outsider):
    project, _ = evaluated
    url = reverse("situatedqa:evaluate", args=[project.slug])
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    Membership.objects.create(project=project, user=viewer, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.get(url).status_code == 200
    assert _post(client, project, "temp", [UNKNOWN]).status_code == 404
    assert not Evaluation.objects.exists()


def test_the_results_page_puts_the_model_next_to_the_crowd_on_the_same_rows(
    evaluated, client, owner
):
    project, crowd_rows = evaluated
    client.force_login(owner)
    official = {v: [json.loads(x) for x in shipped("qa", v).splitlines()] for v in ("temp", "geo")}
    for variant in ("temp", "geo"):
        gold = _exported(client, owner, project, variant)
        preds, lines = predictions_for(gold, variant)
        assert _post(client, project, variant, lines).status_code == 302
        model: dict[tuple, str] = {}
        for pred in preds:
            if pred is not None:
                model.setdefault((pred["id"], pred["edited_question"]), pred["pred_answer"])
        crowd: dict[tuple, str] = {}
        for row in crowd_rows[variant]:
            crowd.setdefault((row["id"], row["edited_question"]), row["answer"][0])
        both = [r for r in official[variant] if (r["id"], r["edited_question"]) in crowd]
        both = [r for r in both if (r["id"], r["edited_question"]) in model]
        assert both
        as_model = [{**r, "pred_answer": model[(r["id"], r["edited_question"])]} for r in both]
        as_crowd = [{**r, "pred_answer": crowd[(r["id"], r["edited_question"])]} for r in both]

        results = SITUATEDQA.results(project)
        label = "temporal" if variant == "temp" else "geographic"
        (table,) = [
            t for t in results.tables if t.title.startswith("Model vs. crowd") and label in t.title
        ]
        for shown, rows in zip(table.rows, (as_model, as_crowd), strict=True):
            expected = em_by_hand(rows, rows, variant)
            cells = (
                ["static", "sampled", "start", "total", "any"]
                if variant == "temp"
                else ["common", "rare", "total", "any"]
            )
            for cell, text in zip(cells, shown[1:], strict=True):
                k, n = expected.get(cell, [0, 0])
                assert text.startswith(f"{k} / {n} = "), (variant, shown[0], cell, text)
        assert table.rows[0][0] == "Model (preds.jsonl)"

    html = client.get(reverse("dashboard:results", args=[project.slug])).content.decode()
    assert "Model vs. crowd on the same questions, geographic" in html
    assert "Evaluate a QA model&#x27;s predictions" in html
