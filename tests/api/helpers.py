"""Test data for the dashboard and API tests: answers simulated through the engine, or
written in bulk when a test needs thousands of them."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import timedelta

from django.utils import timezone

from apps.core.engine import annotation_submit, next_item
from apps.core.models import Annotation, Assignment, Item, Participant, Project
from tests.factories import ItemFactory, ParticipantFactory


def answer_through_engine(participant: Participant, choose) -> int:
    """Let ``participant`` answer every item the engine serves; ``choose(item)`` picks a/b."""
    answered = 0
    while (assignment := next_item(participant=participant).assignment) is not None:
        annotation_submit(
            assignment=assignment,
            value={"choice": choose(assignment.item)},
            client_token=uuid.uuid4().hex,
            duration_ms=1500 + answered * 100,
        )
        answered += 1
    return answered


def bulk_answers(project: Project, *, items: int, workers: int, value=None) -> int:
    """``items`` × ``workers`` submitted answers written directly (fast, for export tests)."""
    now = timezone.now()
    item_rows = Item.objects.bulk_create(
        [
            Item(
                project=project,
                external_id=f"bulk-{i}",
                payload={"text": f"t{i}"},
                answer_count=workers,
            )
            for i in range(items)
        ]
    )
    people = Participant.objects.bulk_create(
        [
            Participant(
                project=project, source=Participant.Source.LINK, external_id=f"bulk-worker-{w}"
            )
            for w in range(workers)
        ]
    )
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(
                item=item,
                participant=p,
                status=Assignment.Status.SUBMITTED,
                expires_at=now + timedelta(minutes=10),
                finished_at=now,
            )
            for item in item_rows
            for p in people
        ]
    )
    Annotation.objects.bulk_create(
        [
            Annotation(
                assignment=a,
                project=project,
                item_id=a.item_id,
                participant_id=a.participant_id,
                value=value or {"choice": "a" if (a.item_id + a.participant_id) % 3 else "b"},
                duration_ms=1000 + n,
                client_token=uuid.uuid4().hex,
                created_at=now - timedelta(seconds=n),
            )
            for n, a in enumerate(assignments)
        ],
        batch_size=2000,
    )
    return len(assignments)


def three_workers_and_one_spammer(project: Project):
    """Four items answered by three careful workers ("a") and one who always says "b"."""
    for i in range(4):
        ItemFactory(project=project, external_id=f"q{i}")
    careful = [ParticipantFactory(project=project, external_id=f"careful-{n}") for n in range(3)]
    spammer = ParticipantFactory(project=project, external_id="spammer")
    project.overlap = 4
    project.save(update_fields=["overlap"])
    for person in careful:
        answer_through_engine(person, lambda item: "a")
    answer_through_engine(spammer, lambda item: "b")
    return careful, spammer


def make_zip(entries: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# A 1×1 PNG: real media bytes for zip imports.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
