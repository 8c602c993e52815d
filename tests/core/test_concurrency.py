"""The engine's invariants with many annotators at once, each thread on its own connection.

On PostgreSQL this exercises FOR UPDATE SKIP LOCKED and the item row locks; on SQLite the
same test checks that IMMEDIATE transactions serialise writers without "database is locked".
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from apps.core import engine
from apps.core.models import Annotation, Assignment, Item
from tests.factories import ItemFactory, ParticipantFactory

THREADS = 32
ITEMS = 40
OVERLAP = 3


def annotate_until_done(participant, accepted: list, errors: list, barrier: threading.Barrier):
    try:
        barrier.wait(timeout=30)
        n = 0
        while True:
            assignment = engine.next_item(participant=participant)
            if assignment is None:
                return
            token = f"{participant.pk}-{assignment.pk}"
            try:
                outcome = engine.annotation_submit(
                    assignment=assignment, value={"choice": "ab"[n % 2]}, client_token=token
                )
            except engine.SubmitRefused:
                continue
            accepted.append(outcome.annotation.pk)
            if n % 3 == 0:  # a double click: the same token again
                again = engine.annotation_submit(
                    assignment=assignment, value={"choice": "a"}, client_token=token
                )
                assert not again.created
            n += 1
    except Exception as exc:  # noqa: BLE001 — reported to the main thread
        errors.append(repr(exc))
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_keep_every_invariant(project):
    project.overlap = OVERLAP
    project.save()
    ItemFactory.create_batch(ITEMS, project=project)
    participants = [ParticipantFactory(project=project) for _ in range(THREADS)]
    accepted: list[int] = []
    errors: list[str] = []
    barrier = threading.Barrier(THREADS)
    threads = [
        threading.Thread(target=annotate_until_done, args=(p, accepted, errors, barrier))
        for p in participants
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    assert not any(t.is_alive() for t in threads)

    per_item = Counter(Annotation.objects.values_list("item_id", flat=True))
    assert max(per_item.values()) <= OVERLAP
    assert sum(per_item.values()) == ITEMS * OVERLAP  # every slot was filled, none twice
    pairs = Counter(Annotation.objects.values_list("item_id", "participant_id"))
    assert max(pairs.values()) == 1
    assert sorted(accepted) == sorted(Annotation.objects.values_list("pk", flat=True))
    for item in Item.objects.all():
        assert item.answer_count == per_item[item.pk]
    assert not Assignment.objects.filter(status="reserved").exists()
    assert connection.vendor in {"postgresql", "sqlite"}
