"""Fixtures for the SituatedQA tests: a project, uploads of the shipped subset, and answers
given through the engine (``annotation_submit``, as the annotate view stores them)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apps.core import engine, stages
from apps.core.models import Assignment, Item, Participant
from apps.core.services import project_create
from apps.core.uploads import items_import_upload
from tests.ml.situatedqa_data import DEMO, demo_file


@pytest.fixture
def sqa_project(owner):
    def make(slug: str = "sqa", **config):
        return project_create(
            owner=owner,
            slug=slug,
            title="SituatedQA",
            task_type="situatedqa",
            status="live",
            config=config,
        )

    return make


def upload(project, content: bytes, name: str):
    """Import ``content`` through the platform's upload entry point (what the Data tab calls)."""
    return items_import_upload(project=project, upload=SimpleUploadedFile(name, content), name=name)


def shipped(layout: str, variant: str) -> bytes:
    return demo_file(layout, variant).read_bytes()


def nq_open_bytes() -> bytes:
    return (DEMO / "temp_splits" / "pre_2019.dev.jsonl").read_bytes()


def person(project, name: str) -> Participant:
    participant = Participant.objects.create(
        project=project, source=Participant.Source.PROLIFIC, external_id=name
    )
    participant.consent()
    return participant


def answer(item: Item, participant: Participant, value: dict, *, advance: bool = True):
    """``participant`` answers ``item`` through the engine; the item advances when complete
    (what the worker's task does after the commit)."""
    now = timezone.now()
    assignment, _ = Assignment.objects.update_or_create(
        item=item,
        participant=participant,
        defaults={
            "status": Assignment.Status.RESERVED,
            "reserved_at": now,
            "expires_at": now + timedelta(minutes=10),
        },
    )
    outcome = engine.annotation_submit(
        assignment=assignment, value=value, client_token=uuid.uuid4().hex
    )
    if advance:
        stages.item_advance(item_id=item.pk)
    return outcome.annotation


def root(project, variant: str, qid) -> Item:
    return Item.objects.get(project=project, external_id=f"{variant}:{qid}")


TEMP_ANSWER = {
    "list_answer": False,
    "cur_missing": False,
    "cur_answer": "2018",
    "cur_answer_start": "2018",
    "prev_missing": False,
    "prev_answer": "1990",
    "prev_answer_start": "1990",
    "article_title": "",
}
