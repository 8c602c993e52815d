"""The contract every task type keeps, run over every registered one unchanged.

A sixth task type passes this file before it is done: its demo seeds and simulates answers,
one item is annotated through HTTP, a bad answer is a field error that stores nothing, the
results page of every demo project it names renders with numbers, every export parses with one
row per record, and its trainer (if any) trains for a few steps on a CPU.
"""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from apps.core import exporting, registry
from apps.core.demo import demo_answers_simulate
from apps.core.models import (
    Annotation,
    Assignment,
    ItemMedia,
    MediaPlay,
    Participant,
    Project,
)
from apps.core.services import project_create
from apps.training import trainers
from tests.crowd.test_flow import form_of, start

TASK_TYPES = registry.all_task_types()

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.parametrize("task_type", TASK_TYPES, ids=[t.key for t in TASK_TYPES]),
]


@pytest.fixture
def seeded(owner):
    """A live demo project of the task type under test, seeded as ``make demo`` seeds it
    (its first demo project unless ``demo`` names another)."""

    def make(task_type, demo: registry.DemoProject | None = None) -> Project:
        demo = demo or task_type.demo_projects()[0]
        project = project_create(
            owner=owner,
            slug=f"contract-{demo.slug(task_type.key)}",
            title=f"Contract: {task_type.title}",
            task_type=task_type.key,
            config=demo.config,
            status=Project.Status.LIVE,
        )
        task_type.seed_demo(project)
        return project

    return make


def _served(client: Client, project: Project):
    """Enter as a new participant and return (annotate page, the reserved assignment).

    A task type's qualification has its own tests; here the participant has passed it.
    """
    page = start(client, project)
    if registry.get(project.task_type).qualification is not None:
        participant = Participant.objects.get(project=project)
        participant.record_qualification(passed=True, details={"passed by": "contract suite"})
        page = client.get(f"/p/{project.slug}/annotate/")
    assert page.status_code == 200, page.content[:500]
    assignment = Assignment.objects.select_related("item").get(
        participant__project=project, status=Assignment.Status.RESERVED
    )
    return page, assignment


def _hear_everything(client: Client, task_type, assignment) -> None:
    """Play every clip the task type wants heard, as the page's player reports it; the test
    then moves the plays back by the clips' length instead of waiting for them."""
    for key in task_type.must_play(assignment.item):
        url = reverse("crowd:media_played", args=[assignment.item.project.slug, assignment.pk, key])
        for event in ("started", "ended"):
            assert client.post(url, {"event": event}).status_code == 204
    longest = max(
        (m.duration_s or 0 for m in ItemMedia.objects.filter(item=assignment.item)), default=0
    )
    MediaPlay.objects.filter(assignment=assignment).update(
        started_at=F("started_at") - timedelta(seconds=longest + 1)
    )


def test_its_demo_seeds_items_and_simulated_answers(task_type, seeded):
    project = seeded(task_type)
    assert project.items.exists()
    stored = demo_answers_simulate(project=project, participants=3)
    assert stored > 0
    assert Annotation.objects.filter(project=project).count() == stored
    for value in Annotation.objects.filter(project=project).values_list("value", flat=True):
        assert task_type.label_of(value) is not None or task_type.level_of_measurement != "nominal"


def test_one_item_is_annotated_through_http(task_type, seeded, client):
    project = seeded(task_type)
    page, assignment = _served(client, project)
    action, token = form_of(page)
    value = task_type.simulate_answer(assignment.item, random.Random(1))
    _hear_everything(client, task_type, assignment)
    data = {**task_type.form_data_for(assignment.item, value), "client_token": token}
    response = client.post(action, data)
    assert response.status_code in (200, 302)
    stored = Annotation.objects.get(assignment=assignment)
    assert stored.value == task_type.validate(assignment.item, value)


def test_a_bad_answer_is_a_field_error_and_stores_nothing(task_type, seeded, client):
    project = seeded(task_type)
    page, assignment = _served(client, project)
    action, token = form_of(page)
    response = client.post(action, {"client_token": token}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    with pytest.raises(registry.InvalidValue) as refused:
        task_type.validate(assignment.item, task_type.value_from_form(assignment.item, {}))
    assert refused.value.fields, "the error names the field it is about"
    for messages in refused.value.fields.values():
        for message in messages:
            assert escape(message) in html
    assert not Annotation.objects.filter(project=project).exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.RESERVED  # the item is still theirs


def test_the_results_page_of_each_of_its_demo_projects_renders_with_numbers(
    task_type, seeded, client, owner
):
    demos = task_type.demo_projects()
    assert demos, "a task type seeds at least one demo project"
    slugs = [demo.slug(task_type.key) for demo in demos]
    assert len(set(slugs)) == len(slugs) and all(
        s.startswith(f"demo-{task_type.key}") for s in slugs
    )
    client.force_login(owner)
    for demo in demos:
        project = seeded(task_type, demo)
        assert project.items.exists(), demo
        assert demo_answers_simulate(project=project, participants=3) > 0, demo
        response = client.get(reverse("dashboard:results", args=[project.slug]))
        assert response.status_code == 200, demo
        results = task_type.results(project)
        assert any(m.value is not None for m in results.metrics) or results.tables, demo


def test_every_export_parses_with_one_row_per_record(task_type, seeded, client, owner):
    project = seeded(task_type)
    demo_answers_simulate(project=project, participants=3)
    client.force_login(owner)
    catalog = exporting.export_catalog(project)
    assert catalog[0].key == "annotations"
    for record_set in catalog:
        if record_set.key == "annotations":
            expected = Annotation.objects.filter(project=project).count()
        else:
            expected = len(list(record_set.records(project)))
        for fmt in ("jsonl", "csv"):
            response = client.get(
                reverse("dashboard:export_download", args=[project.slug, record_set.key, fmt])
            )
            assert response.status_code == 200, (record_set.key, fmt)
            body = b"".join(response.streaming_content).decode()
            if fmt == "jsonl":
                rows = [json.loads(line) for line in body.splitlines() if line]
            else:
                rows = list(csv.DictReader(io.StringIO(body)))
            assert len(rows) == expected, (record_set.key, fmt)


def test_its_trainer_trains_a_few_steps_on_a_cpu(task_type, seeded, tmp_path):
    trainer = trainers.find(task_type.key)
    if trainer is None:
        pytest.skip(f"{task_type.key} has no model")
    from ml.common import pick_device

    project = seeded(task_type)
    demo_answers_simulate(project=project, participants=2)
    config = trainer.Config.from_dict(trainer.smoke_config)
    records = trainer.records(project, config)
    json.dumps(records)  # plain JSON: hashed and stored with the version
    device = pick_device("cpu")
    outcome = trainer.train(records, config, device, lambda *_: True, tmp_path / "artifact")
    assert outcome.metrics
    rows = trainer.predict(tmp_path / "artifact", records[:8], device, lambda *_: True)
    # One row per item; a record may stand for several items (explain: an image and the
    # items showing it), and each of them is predicted.
    predicted = [row.item_id for row in rows]
    assert len(set(predicted)) == len(predicted)
    assert set(predicted) >= {r["item_id"] for r in records[:8]}
    assert set(predicted) <= set(project.items.values_list("pk", flat=True))
    for row in rows:
        assert row.uncertainty >= 0 and isinstance(row.value, dict)


def test_nobody_outside_sees_its_pages(task_type, seeded, client, outsider):
    project = seeded(task_type)
    client.force_login(outsider)
    assert client.get(reverse("dashboard:results", args=[project.slug])).status_code == 404
    assert not Participant.objects.filter(project=project).exists()


def test_its_import_formats_are_declared_and_each_sample_file_imports_every_row(task_type, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    formats = task_type.import_formats()
    assert formats, "a task type tells researchers what it imports"
    assert len({f.key for f in formats}) == len(formats)
    for fmt in formats:
        assert fmt.required and fmt.example.strip()
        assert fmt.extension in {"jsonl", "json", "csv", "zip"}
        assert fmt.example.strip() in fmt.sample  # the example is a row of the sample
        project = project_create(
            owner=owner,
            slug=f"formats-{task_type.key}-{fmt.key}",
            title="Formats",
            task_type=task_type.key,
        )
        rows = len([line for line in fmt.sample.splitlines() if line.strip()])
        rows -= fmt.extension in ("csv", "zip")  # the header (a zip's sample is its manifest)
        if fmt.extension == "json":
            rows = len(json.loads(fmt.sample))
        if fmt.sample_items is not None:
            rows = fmt.sample_items  # a manifest's rows can make more items (controls)
        upload = SimpleUploadedFile(fmt.filename, fmt.sample_content())
        report = task_type.import_items(project, upload)
        assert report.ok, (fmt.key, report.errors)
        assert report.created == rows == project.items.count(), fmt.key
