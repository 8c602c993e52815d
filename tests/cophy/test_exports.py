"""The CoPhy exports: scenes and scored answers as records (JSONL and CSV through the Export
tab), and the scenes as example folders in the official layout that import back unchanged."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.cophy import services
from apps.cophy.models import Scene
from apps.core import engine
from apps.core.models import Participant
from ml.cophy.layout import read_examples
from tests.cophy import scenes

pytestmark = pytest.mark.django_db

EXAMPLES = [scenes.tower("1"), scenes.tower("3", remove=True), scenes.balls(), scenes.collision()]


@pytest.fixture
def study(cophy_project):
    project = cophy_project("observed", "counterfactual_only")
    report = services.scenes_import(
        project=project, upload=scenes.zip_file(EXAMPLES, gold=["blocktowerCF/3/3"])
    )
    assert report.ok, report.errors
    participant = Participant.objects.create(
        project=project, source=Participant.Source.LINK, external_id="p1"
    )
    participant.consent()
    while (assignment := engine.next_item(participant=participant).assignment) is not None:
        payload = assignment.item.payload
        if payload["question"] == "tower":
            blocks = [o["color"] for o in payload["objects"] if o["in_c"]]
            value = {"moves": {c: c == "blue" for c in blocks}, "falls": True}
        else:
            value = {"x": 1.6, "y": 1.0, "first_contact": payload["contact_choices"][0]}
        engine.annotation_submit(
            assignment=assignment, value=value, client_token=uuid.uuid4().hex, duration_ms=4321
        )
    return project


def _download(client, project, what: str, fmt: str):
    response = client.get(reverse("dashboard:export_download", args=[project.slug, what, fmt]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    if fmt == "jsonl":
        return [json.loads(line) for line in body.splitlines() if line]
    return list(csv.DictReader(io.StringIO(body)))


def test_the_scenes_export_holds_the_hidden_confounders_and_the_outcomes(study, client, owner):
    client.force_login(owner)
    rows = {r["example_id"]: r for r in _download(client, study, "scenes", "jsonl")}
    assert set(rows) == {e.example_id for e in EXAMPLES}
    tower = rows["blocktowerCF/3/1"]
    assert tower["confounders"] == {"red": [1.0, 0.5], "green": [10.0, 1.0], "blue": [1.0, 0.5]}
    assert tower["confounder_names"] == ["mass", "friction"]
    assert tower["gravity"] == [0.5, 0.0]
    assert tower["intervention"] == "displace" and tower["intervention_object"] == "blue"
    assert tower["intervention_delta"] == pytest.approx([0.6, 0.0, 0.0])
    assert tower["moves_cd"] == {"red": False, "green": False, "blue": True}
    assert tower["falls_ab"] is False and tower["falls_cd"] is True
    assert tower["final_positions_cd"]["blue"] == pytest.approx([1.6, 0.0, 0.5])
    removed = rows["blocktowerCF/3/3"]
    assert removed["gold"] is True and removed["intervention"] == "remove"
    assert removed["objects_cd"] == ["red", "green"]
    ball = rows["ballsCF/2/1"]
    assert ball["marked_object"] == "red" and ball["first_contact"] == "green"
    assert ball["explanation"] == "The red ball was moved 1.00 along +y."
    # float32 values come out as the decimals they were written as, not 0.10000000149…
    assert rows["collisionCF/1"]["confounders"]["yellow"] == [2.0, 0.1, 1.0]
    assert len(_download(client, study, "scenes", "csv")) == len(EXAMPLES)


def test_the_answers_export_scores_each_answer(study, client, owner):
    client.force_login(owner)
    rows = _download(client, study, "answers", "jsonl")
    assert len(rows) == len(_download(client, study, "answers", "csv")) > 0
    for row in rows:
        assert row["participant"].startswith("p") and row["rt_ms"] == 4321
        if row["example_id"] == "blocktowerCF/3/1":
            assert row["response_per_object"] == {"red": False, "green": False, "blue": True}
            assert (row["blocks_right"], row["blocks_asked"], row["falls_right"]) == (3, 3, True)
        if row["example_id"] == "ballsCF/2/1":
            assert row["position_error"] == pytest.approx(0.0, abs=1e-4)
            assert row["first_contact"] == "green" and row["first_contact_right"] is True
        if row["example_id"] == "collisionCF/1":
            assert row["position_error"] == pytest.approx(np.hypot(1.6 - 0.5, 1.0 + 0.5), abs=1e-4)
            assert row["first_contact_right"] is False  # it touches nothing


def test_the_scenes_zip_imports_again_to_the_same_arrays(study, client, owner, cophy_project):
    client.force_login(owner)
    response = client.get(reverse("cophy:scenes_zip", args=[study.slug]))
    assert response["Content-Type"] == "application/zip"
    content = response.content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.read("gold.txt").decode() == "blocktowerCF/3/3\n"
        read = read_examples(archive)
    assert not read.problems
    for example in read.examples:
        stored = Scene.objects.get(project=study, example_id=example.example_id).example()
        original = next(e for e in EXAMPLES if e.example_id == example.example_id)
        for name in ("ab", "cd", "confounders"):
            assert np.array_equal(getattr(example, name), getattr(original, name)), name
            assert np.array_equal(getattr(example, name), getattr(stored, name)), name
        assert example.colors == original.colors and example.gravity == original.gravity
        assert example.explanation == original.explanation
    again = cophy_project(slug="again")
    upload = SimpleUploadedFile("again.zip", content, content_type="application/zip")
    response = client.post(reverse("dashboard:data", args=[again.slug]), {"file": upload})
    assert response.status_code == 200
    assert Scene.objects.filter(project=again).count() == len(EXAMPLES)
    assert Scene.objects.get(project=again, example_id="blocktowerCF/3/3").gold
