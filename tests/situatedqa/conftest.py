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


ENGLAND, CHIHUAHUA, ENERGY = -7924170207595297549, 2465456016447421897, 3159480577727537313
WEED, BENEFITS = 9188546442463987107, -5638292353375059789
VOTES = {
    ("temp", ENGLAND): ["yes", "yes", "maybe"],  # dependent
    ("temp", CHIHUAHUA): ["no", "no", "no"],
    ("temp", ENERGY): ["yes", "no", "malformed"],  # one yes in three: not dependent
    ("geo", WEED): ["yes", "yes", "yes"],
    ("geo", BENEFITS): ["yes", "no", "no"],  # the official release says dependent
}


@pytest.fixture
def study(sqa_project):
    project = sqa_project(identify_answers=3, collect_answers=2, validate_answers=1)
    temp_lines = shipped("raw", "temp").splitlines(keepends=True)
    wanted = (ENGLAND, CHIHUAHUA, ENERGY)
    picked = [x for x in temp_lines if any(str(q) in x.decode()[:200] for q in wanted)]
    assert len(picked) == 3
    assert upload(project, b"".join(picked), "temp.dev.jsonl").ok
    assert upload(
        project, b"".join(shipped("raw", "geo").splitlines(keepends=True)[:2]), "geo.dev.jsonl"
    ).ok
    a, b, c = (person(project, name) for name in ("A", "B", "C"))
    for (variant, qid), labels in VOTES.items():
        for who, label in zip((a, b, c), labels, strict=True):
            answer(root(project, variant, qid), who, {"dependent": label})
    england = Item.objects.get(external_id=f"temp:{ENGLAND}/collect")
    answer(england, a, {**TEMP_ANSWER, "prev_answer": "1990 World Cup"})  # prev: not EM
    answer(
        england,
        b,
        {
            **TEMP_ANSWER,
            "cur_answer": "1990",
            "cur_answer_start": "1990",
            "prev_missing": True,
            "prev_answer": None,
            "prev_answer_start": None,
        },
    )
    weed = Item.objects.get(external_id=f"geo:{WEED}/collect")
    answer(
        weed,
        a,
        {
            "orig_is_correct": "yes",
            "pairs": [
                {"location": "Texas", "answer": "0 - illegal for recreational use"},
                {
                    "location": "Connecticut",
                    "answer": "less than 1 ounce",
                },  # not the official answer
            ],
        },
    )
    answer(
        weed,
        b,
        {
            "orig_is_correct": "no",
            "no_other": True,
            "pairs": [{"location": "washington state", "answer": "2 grams"}],
        },
    )
    validations = {
        (england, "A"): {"correct": "yes"},
        (england, "B"): {"correct": "no"},  # rejected
        (weed, "A"): {"correct": "yes"},
        (weed, "B"): {
            "correct": "no",
            "correction": {
                "orig_is_correct": "yes",
                "no_other": True,
                "pairs": [{"location": "washington d.c.", "answer": "2 ounces"}],
            },
        },
    }
    for (collect, author), value in validations.items():
        response = collect.annotations.get(participant__external_id=author)
        item = collect.children.get(payload__collect_answer=response.pk)
        answer(item, c, value)
    return project
