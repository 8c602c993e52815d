"""The engine's invariants with many annotators at once, each thread on its own connection.

On PostgreSQL this exercises FOR UPDATE SKIP LOCKED and the item row locks; on SQLite the
same test checks that IMMEDIATE transactions serialise writers without "database is locked".
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest
from django.db import connection, connections

from apps.core import engine
from apps.core.models import Annotation, Assignment, Item, ItemExclusion
from apps.core.services import participant_enter
from tests.factories import ItemFactory, ParticipantFactory

THREADS = 32
ITEMS = 40
OVERLAP = 3


def annotate_until_done(participant, accepted: list, errors: list, barrier: threading.Barrier):
    try:
        barrier.wait(timeout=30)
        n = 0
        while True:
            outcome = engine.next_item(participant=participant)
            if not outcome.assigned:
                assert outcome.status == engine.NextStatus.QUEUE_EMPTY, outcome
                return
            assignment = outcome.assignment
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


TAB_ROUNDS = 12


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tabs_of_one_participant_share_one_reservation_and_keep_the_cap(project):
    """Two tabs ask for the next item at the same instant: without the participant's row
    lock each sees no reservation and reserves its own item, and both answers are stored
    although the cap is one item."""
    project.items_per_participant = 1
    project.save()
    ItemFactory.create_batch(TAB_ROUNDS, project=project)
    for _ in range(TAB_ROUNDS):
        participant = ParticipantFactory(project=project)
        barrier = threading.Barrier(2)
        served: list = []
        refused: list[str] = []
        errors: list[str] = []

        def tab(
            participant=participant, barrier=barrier, served=served, refused=refused, errors=errors
        ):
            try:
                barrier.wait(timeout=30)
                outcome = engine.next_item(participant=participant)
                served.append(outcome)
                if outcome.assigned:
                    engine.annotation_submit(
                        assignment=outcome.assignment,
                        value={"choice": "a"},
                        client_token=uuid.uuid4().hex,  # each tab rendered its own form
                    )
            except engine.SubmitRefused as exc:
                refused.append(exc.code)
            except Exception as exc:  # noqa: BLE001 — reported to the main thread
                errors.append(repr(exc))
            finally:
                connections.close_all()

        threads = [threading.Thread(target=tab) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assigned = {o.assignment.pk for o in served if o.assigned}
        assert len(served) == 2 and len(assigned) == 1
        if all(o.assigned for o in served):  # the second tab came while the first was open
            assert refused == ["already_answered"]
        else:  # the first tab had answered already
            assert {o.status for o in served} == {"assigned", "cap_reached"} and not refused
        assert Assignment.objects.filter(participant=participant).count() == 1
        assert Annotation.objects.filter(participant=participant).count() == 1
        assert engine.next_item(participant=participant).status == engine.NextStatus.CAP_REACHED


RULE_THREADS = 32
GROUPS = 12
SYSTEMS = 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_annotators_keep_groups_exclusions_lists_and_wanted_answers(project):
    """32 annotators at once on a balanced design: each sentence heard once per listener
    (groups), never an item that excludes you, only your list, answers per item as wanted."""
    project.overlap = 2
    project.list_count = 2
    project.save()
    items = []
    for g in range(GROUPS):
        for m in range(SYSTEMS):
            items.append(
                ItemFactory(
                    project=project,
                    external_id=f"s{g}-m{m}",
                    group=f"s{g}",
                    list_mask=Item.mask_of([(g + m) % 2]),
                    wanted_answers=[1, None, 3][(g + m) % 3],  # None: the overlap (2)
                )
            )
    people = [participant_enter(project=project, params={}) for _ in range(RULE_THREADS)]
    excluded = set()
    for n, item in enumerate(items):
        for k, person in enumerate(people):
            if (n + k) % 7 == 0:
                ItemExclusion.objects.create(item=item, participant=person)
                excluded.add((item.pk, person.pk))
    accepted: list[int] = []
    errors: list[str] = []
    barrier = threading.Barrier(RULE_THREADS)
    threads = [
        threading.Thread(target=annotate_until_done, args=(p, accepted, errors, barrier))
        for p in people
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:5]
    assert not any(t.is_alive() for t in threads)

    by_pk = {i.pk: i for i in Item.objects.all()}
    lists = {p.pk: p.list_index for p in people}
    seen = Counter()
    per_item = Counter()
    for item_id, participant_id in Annotation.objects.values_list("item_id", "participant_id"):
        item = by_pk[item_id]
        per_item[item_id] += 1
        seen[(participant_id, item.group)] += 1
        assert (item_id, participant_id) not in excluded
        assert item.lists == [lists[participant_id]]
    assert max(seen.values()) == 1  # one item per group per participant
    for item in by_pk.values():
        wanted = item.wanted_answers or project.overlap
        assert per_item[item.pk] == wanted == item.answer_count  # filled, never beyond
    assert sorted(accepted) == sorted(Annotation.objects.values_list("pk", flat=True))
    assert Counter(lists.values()) == {0: RULE_THREADS // 2, 1: RULE_THREADS // 2}
