"""The assignment engine's rules, one test each."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import engine
from apps.core.models import Annotation, Assignment, Item, ItemExclusion, Participant, Project
from apps.core.services import participant_enter
from apps.dashboard.selectors import project_counts
from tests.factories import ItemFactory, ParticipantFactory

pytestmark = pytest.mark.django_db


def reserve(participant, now=None):
    outcome = engine.next_item(participant=participant, now=now)
    assert outcome.status == engine.NextStatus.ASSIGNED, outcome
    return outcome.assignment


def status_of(participant, now=None):
    return engine.next_item(participant=participant, now=now).status


def answer(participant, choice="a", token=None):
    assignment = reserve(participant)
    return engine.annotation_submit(
        assignment=assignment, value={"choice": choice}, client_token=token or f"t-{assignment.pk}"
    )


def test_it_serves_the_highest_priority_item_first(project, worker):
    ItemFactory(project=project, external_id="low", priority=0.1)
    ItemFactory(project=project, external_id="high", priority=0.9)
    assert reserve(worker).item.external_id == "high"


def test_it_prefers_items_with_fewer_answers_at_equal_priority(project, worker):
    busy = ItemFactory(project=project, external_id="busy")
    ItemFactory(project=project, external_id="fresh")
    answer(ParticipantFactory(project=project))  # answers "busy" (lowest id)
    assert Item.objects.get(pk=busy.pk).answer_count == 1
    assert reserve(worker).item.external_id == "fresh"


def test_a_reload_returns_the_same_reservation(project, worker):
    ItemFactory.create_batch(3, project=project)
    first = reserve(worker)
    assert reserve(worker).pk == first.pk


def test_nobody_is_served_an_item_twice(project, worker):
    ItemFactory.create_batch(2, project=project)
    seen = {answer(worker).annotation.item_id, answer(worker).annotation.item_id}
    assert len(seen) == 2
    assert status_of(worker) == engine.NextStatus.QUEUE_EMPTY


def test_a_full_item_is_not_served(project):
    project.overlap = 2
    project.save()
    ItemFactory(project=project)
    for _ in range(2):
        answer(ParticipantFactory(project=project))
    assert status_of(ParticipantFactory(project=project)) == engine.NextStatus.QUEUE_EMPTY


def test_live_reservations_count_toward_overlap(project):
    project.overlap = 2
    project.save()
    item = ItemFactory(project=project)
    other = ItemFactory(project=project)
    for _ in range(2):
        assert reserve(ParticipantFactory(project=project)).item == item
    assert reserve(ParticipantFactory(project=project)).item == other


def test_an_expired_reservation_frees_its_slot(project):
    project.overlap = 1
    project.save()
    item = ItemFactory(project=project)
    slow = ParticipantFactory(project=project)
    reserve(slow)
    later = timezone.now() + project.reservation_ttl + timedelta(seconds=1)
    assert reserve(ParticipantFactory(project=project), later).item == item


def test_the_task_types_priority_comes_before_the_models(project, worker):
    ItemFactory(project=project, external_id="model-pick", priority=0.0, model_priority=0.9)
    ItemFactory(project=project, external_id="sample-b", priority=1.0, model_priority=0.2)
    ItemFactory(project=project, external_id="sample-a", priority=1.0, model_priority=0.7)
    served = [answer(worker).annotation.item.external_id for _ in range(3)]
    assert served == ["sample-a", "sample-b", "model-pick"]


def test_a_project_that_is_not_live_serves_nothing(project, worker):
    ItemFactory(project=project)
    project.set_status(Project.Status.PAUSED)
    assert status_of(worker) == engine.NextStatus.NOT_LIVE
    assert not Assignment.objects.exists()


def test_control_items_come_in_a_different_order_per_participant(project):
    project.gold_rate = 1.0
    project.save()
    for i in range(8):
        ItemFactory(
            project=project, kind=Item.Kind.GOLD, external_id=f"g{i}", gold_value={"choice": "a"}
        )
    firsts = {reserve(ParticipantFactory(project=project)).item_id for _ in range(12)}
    assert len(firsts) > 1  # not everybody meets the same check first
    worker = ParticipantFactory(project=project)
    order = [answer(worker).annotation.item_id for _ in range(8)]
    assert len(set(order)) == 8  # every gold item once, none twice


def test_the_per_participant_cap_ends_the_work(project, worker):
    project.items_per_participant = 2
    project.save()
    ItemFactory.create_batch(5, project=project)
    answer(worker)
    answer(worker)
    assert status_of(worker) == engine.NextStatus.CAP_REACHED


def test_gold_items_are_mixed_in_at_the_project_rate(project, worker):
    project.gold_rate = 0.25
    project.save()
    ItemFactory.create_batch(12, project=project)
    for i in range(4):
        ItemFactory(
            project=project, kind=Item.Kind.GOLD, external_id=f"gold{i}", gold_value={"choice": "a"}
        )
    kinds = []
    for _ in range(12):
        outcome = answer(worker)
        kinds.append(outcome.annotation.item.kind)
    assert kinds.count(Item.Kind.GOLD) == 3
    assert kinds[3] == Item.Kind.GOLD  # the 4th item: 1 gold per 4 served


def test_gold_items_ignore_overlap(project):
    project.overlap = 1
    project.gold_rate = 1.0
    project.save()
    gold = ItemFactory(project=project, kind=Item.Kind.GOLD, gold_value={"choice": "a"})
    for _ in range(3):
        assert answer(ParticipantFactory(project=project)).annotation.item == gold


def test_a_submit_is_stored_with_its_value_and_counted(project, worker):
    item = ItemFactory(project=project)
    outcome = answer(worker, choice="b")
    assert outcome.created
    assert outcome.annotation.value == {"choice": "b"}
    assert Item.objects.get(pk=item.pk).answer_count == 1
    assert Assignment.objects.get(pk=outcome.annotation.assignment_id).status == "submitted"


def test_a_repeated_submit_is_stored_once(project, worker):
    ItemFactory(project=project)
    assignment = reserve(worker)
    first = engine.annotation_submit(
        assignment=assignment, value={"choice": "a"}, client_token="x1"
    )
    again = engine.annotation_submit(
        assignment=assignment, value={"choice": "a"}, client_token="x1"
    )
    assert first.created and not again.created
    assert Annotation.objects.count() == 1
    assert Item.objects.get().answer_count == 1


def test_a_second_submit_with_a_new_token_is_refused_and_the_first_answer_kept(project, worker):
    ItemFactory(project=project)
    assignment = reserve(worker)
    engine.annotation_submit(assignment=assignment, value={"choice": "a"}, client_token="x1")
    with pytest.raises(engine.SubmitRefused) as refused:
        engine.annotation_submit(assignment=assignment, value={"choice": "b"}, client_token="x2")
    assert refused.value.code == "already_answered"
    assert "your first answer was kept" in refused.value.message
    assert Annotation.objects.get().value == {"choice": "a"}
    assert Item.objects.get().answer_count == 1


def test_a_token_cannot_be_reused_for_another_item(project, worker):
    ItemFactory.create_batch(2, project=project)
    answer(worker, token="same")
    second = reserve(worker)
    with pytest.raises(engine.SubmitRefused):
        engine.annotation_submit(assignment=second, value={"choice": "a"}, client_token="same")
    assert Annotation.objects.count() == 1


def test_an_invalid_answer_stores_nothing(project, worker):
    ItemFactory(project=project)
    assignment = reserve(worker)
    with pytest.raises(ValidationError):
        engine.annotation_submit(assignment=assignment, value={"choice": "zzz"}, client_token="t")
    assert Annotation.objects.count() == 0
    assert Item.objects.get().answer_count == 0


def test_a_late_submit_is_accepted_while_the_item_needs_answers(project, worker):
    ItemFactory(project=project)
    assignment = reserve(worker)
    later = timezone.now() + project.reservation_ttl + timedelta(minutes=1)
    outcome = engine.annotation_submit(
        assignment=assignment, value={"choice": "a"}, client_token="late", now=later
    )
    assert outcome.created


def test_a_late_submit_is_refused_when_the_item_was_reassigned_and_filled(project, worker):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    stale = reserve(worker)
    later = timezone.now() + project.reservation_ttl + timedelta(minutes=1)
    other = ParticipantFactory(project=project)
    taken = reserve(other, later)
    engine.annotation_submit(assignment=taken, value={"choice": "a"}, client_token="o", now=later)
    with pytest.raises(engine.SubmitRefused) as refused:
        engine.annotation_submit(
            assignment=stale, value={"choice": "b"}, client_token="s", now=later
        )
    assert refused.value.code == "reassigned"
    assert Annotation.objects.count() == 1


def test_a_skipped_item_is_not_served_again_and_not_counted(project, worker):
    first, second = ItemFactory.create_batch(2, project=project)
    engine.assignment_skip(assignment=reserve(worker))
    assert reserve(worker).item == second
    assert Item.objects.get(pk=first.pk).answer_count == 0


def test_low_gold_accuracy_blocks_the_participant(project, worker):
    project.gold_rate = 1.0
    project.gold_block_below = 0.5
    project.gold_block_after = 2
    project.save()
    for i in range(3):
        ItemFactory(
            project=project, kind=Item.Kind.GOLD, gold_value={"choice": "a"}, external_id=f"g{i}"
        )
    answer(worker, choice="b")
    assert Participant.objects.get(pk=worker.pk).status == "active"
    answer(worker, choice="b")
    assert Participant.objects.get(pk=worker.pk).status == "blocked"


def test_reservations_expire_marks_only_stale_ones(project):
    ItemFactory.create_batch(2, project=project)
    reserve(ParticipantFactory(project=project))
    assert engine.reservations_expire() == 0
    later = timezone.now() + project.reservation_ttl + timedelta(seconds=1)
    assert engine.reservations_expire(now=later) == 1


# --- Per-participant rules (data the candidate statement reads) --------------------------


def test_a_participant_gets_at_most_one_item_of_a_group(project, worker):
    ItemFactory(project=project, external_id="u1-sysA", group="u1", priority=3)
    ItemFactory(project=project, external_id="u1-sysB", group="u1", priority=2)
    ItemFactory(project=project, external_id="u2-sysA", group="u2", priority=1)
    ItemFactory(project=project, external_id="loose")
    served = [answer(worker).annotation.item.external_id for _ in range(3)]
    assert served == ["u1-sysA", "u2-sysA", "loose"]
    assert status_of(worker) == engine.NextStatus.QUEUE_EMPTY
    assert reserve(ParticipantFactory(project=project)).item.external_id == "u1-sysA"


def test_an_expired_or_skipped_item_still_closes_its_group(project, worker):
    first = ItemFactory(project=project, group="g", priority=2)
    ItemFactory(project=project, group="g", priority=1)
    other = ItemFactory(project=project, group="h")
    reserve(worker)
    later = timezone.now() + project.reservation_ttl + timedelta(seconds=1)
    assert reserve(worker, later).item == first  # their own expired item may come back
    engine.assignment_skip(assignment=Assignment.objects.get(participant=worker))
    assert reserve(worker, later).item == other  # but never its sibling: they saw the group


def test_an_item_is_never_served_to_a_participant_it_excludes(project, worker):
    authored = ItemFactory(project=project, priority=1)
    ItemExclusion.objects.create(item=authored, participant=worker)
    fallback = ItemFactory(project=project)
    assert reserve(worker).item == fallback
    assert reserve(ParticipantFactory(project=project)).item == authored
    answer(worker)
    assert status_of(worker) == engine.NextStatus.QUEUE_EMPTY


def test_an_items_wanted_answers_override_the_overlap(project):
    project.overlap = 3
    project.save()
    once = ItemFactory(project=project, wanted_answers=1, priority=2)
    five = ItemFactory(project=project, wanted_answers=5, priority=1)
    answered = Counter()
    for _ in range(6):
        answered[answer(ParticipantFactory(project=project)).annotation.item_id] += 1
    assert answered == {once.pk: 1, five.pk: 5}
    assert status_of(ParticipantFactory(project=project)) == engine.NextStatus.QUEUE_EMPTY
    counts = project_counts(project=project)
    assert (counts.items_complete, counts.answers, counts.answers_needed) == (2, 6, 6)


def test_a_late_submit_respects_the_items_wanted_answers(project, worker):
    project.overlap = 3
    project.save()
    ItemFactory(project=project, wanted_answers=1)
    stale = reserve(worker)
    later = timezone.now() + project.reservation_ttl + timedelta(minutes=1)
    taken = reserve(ParticipantFactory(project=project), later)
    engine.annotation_submit(assignment=taken, value={"choice": "a"}, client_token="o", now=later)
    with pytest.raises(engine.SubmitRefused) as refused:
        engine.annotation_submit(
            assignment=stale, value={"choice": "b"}, client_token="s", now=later
        )
    assert refused.value.code == "reassigned"


def test_new_participants_take_the_least_used_list_and_see_only_its_items(project):
    project.list_count = 2
    project.overlap = 9
    project.save()
    in_0 = ItemFactory(project=project, list_mask=Item.mask_of([0]), priority=3)
    in_1 = ItemFactory(project=project, list_mask=Item.mask_of([1]), priority=2)
    everywhere = ItemFactory(project=project, priority=1)
    people = [participant_enter(project=project, params={}) for _ in range(4)]
    assert [p.list_index for p in people] == [0, 1, 0, 1]
    again = participant_enter(project=project, params={"PROLIFIC_PID": "p"})
    assert participant_enter(project=project, params={"PROLIFIC_PID": "p"}).list_index == (
        again.list_index
    )
    first, second = people[0], people[1]
    assert [answer(first).annotation.item for _ in range(2)] == [in_0, everywhere]
    assert [answer(second).annotation.item for _ in range(2)] == [in_1, everywhere]
    assert status_of(first) == engine.NextStatus.QUEUE_EMPTY


def test_a_latin_square_gives_each_listener_each_sentence_once_across_systems(project):
    """3 systems × 3 sentences: list n holds system (sentence + n) mod 3 of each sentence."""
    project.list_count = 3
    project.save()
    for sentence in range(3):
        for system in range(3):
            ItemFactory(
                project=project,
                external_id=f"s{sentence}-m{system}",
                group=f"s{sentence}",
                list_mask=Item.mask_of([(system - sentence) % 3]),
                payload={"sentence": sentence, "system": system},
            )
    for _ in range(3):
        listener = participant_enter(project=project, params={})
        heard = []
        while (outcome := engine.next_item(participant=listener)).assigned:
            engine.annotation_submit(
                assignment=outcome.assignment,
                value={"choice": "a"},
                client_token=f"{listener.pk}-{outcome.assignment.pk}",
            )
            heard.append(outcome.assignment.item.payload)
        assert sorted(h["sentence"] for h in heard) == [0, 1, 2]  # each sentence once
        assert sorted(h["system"] for h in heard) == [0, 1, 2]  # each system once
    assert set(Item.objects.values_list("answer_count", flat=True)) == {1}


def test_an_item_mask_refuses_a_list_out_of_range():
    with pytest.raises(ValueError, match="from 0 to 62"):
        Item.mask_of([63])


def _counts(project):
    return dict(project.items.order_by("external_id").values_list("external_id", "answer_count"))


def test_a_blocked_participants_answers_stop_counting_and_the_slot_reopens(project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project, external_id="only")
    cheat = ParticipantFactory(project=project)
    answer(cheat)
    newcomer = ParticipantFactory(project=project)
    assert status_of(newcomer) == engine.NextStatus.QUEUE_EMPTY
    cheat.block("test")
    assert _counts(project) == {"only": 0}
    assert Annotation.objects.filter(participant=cheat).count() == 1  # kept, not counted
    answer(newcomer)
    assert _counts(project) == {"only": 1}
    cheat.block("twice")  # blocking again moves nothing
    assert _counts(project) == {"only": 1}


def test_unblocking_counts_the_answers_again_and_keeps_a_finished_participant_finished(project):
    ItemFactory.create_batch(2, project=project)
    person = ParticipantFactory(project=project)
    answer(person)
    answer(person)
    Participant.objects.filter(pk=person.pk).update(
        status=Participant.Status.FINISHED, finished_at=timezone.now()
    )
    person.refresh_from_db()
    person.block("by mistake")
    assert sorted(_counts(project).values()) == [0, 0]
    person.unblock()
    person.refresh_from_db()
    assert person.status == Participant.Status.FINISHED
    assert sorted(_counts(project).values()) == [1, 1]
    active = ParticipantFactory(project=project)
    active.block("x")
    active.unblock()
    assert Participant.objects.get(pk=active.pk).status == Participant.Status.ACTIVE


def test_blocking_releases_the_participants_live_reservation(project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    holder = ParticipantFactory(project=project)
    reserve(holder)
    holder.block("x")
    assert Assignment.objects.get(participant=holder).status == Assignment.Status.EXPIRED
    reserve(ParticipantFactory(project=project))


def test_an_answer_submitted_by_a_blocked_participant_is_stored_but_not_counted(project):
    ItemFactory(project=project, external_id="q")
    person = ParticipantFactory(project=project)
    assignment = reserve(person)
    Participant.objects.filter(pk=person.pk).update(status=Participant.Status.BLOCKED)
    engine.annotation_submit(assignment=assignment, value={"choice": "a"}, client_token="late")
    assert Annotation.objects.filter(participant=person).exists()
    assert _counts(project) == {"q": 0}
    person.refresh_from_db()
    person.unblock()
    assert _counts(project) == {"q": 1}


def test_a_candidate_found_full_under_its_lock_is_released_and_the_next_one_reserved(
    project, worker, monkeypatch
):
    # The candidate statement's snapshot can be older than the reservations committed before
    # its row lock was granted. Simulated: the first locked candidate is an item whose slots
    # are all held by live reservations; the engine must not reserve it, and must go on.
    project.overlap = 2
    project.save()
    full = ItemFactory(project=project, external_id="full")
    ItemFactory(project=project, external_id="open")
    for n in range(2):
        reserve_for(ParticipantFactory(project=project, external_id=f"other-{n}"), full)
    real = engine._candidate
    stale = {"first": True}

    def candidate(participant, *, lock="", **kwargs):
        if lock and stale.pop("first", False):
            return Item.objects.select_for_update().get(pk=full.pk)
        return real(participant, lock=lock, **kwargs)

    monkeypatch.setattr(engine, "_candidate", candidate)
    assert reserve(worker).item.external_id == "open"
    assert not Assignment.objects.filter(item=full, participant=worker).exists()
    assert Assignment.objects.filter(item=full, status=Assignment.Status.RESERVED).count() == 2


def reserve_for(participant, item):
    now = timezone.now()
    return Assignment.objects.create(
        item=item, participant=participant, reserved_at=now, expires_at=now + timedelta(minutes=5)
    )


def test_one_answer_and_the_next_card_take_a_fixed_number_of_queries(client, project):
    # The annotate loop's cost is mostly its statements (bench/hotpath.py), so a change that
    # adds one to every answer fails here. The session; the participant's assignment; the
    # answer's transaction: lock, insert (marking the assignment submitted in the same
    # statement on PostgreSQL; a statement of its own on SQLite), count; the next item's: lock
    # the participant (not on SQLite, which has no row locks), their reservations and counts,
    # the candidate, the reservation (which brings the item's media keys for the test task
    # type's card). (Transaction statements aside: inside the test's transaction they are
    # savepoints.)
    ItemFactory.create_batch(4, project=project)
    client.get("/p/study/", {"PROLIFIC_PID": "counted"}, follow=True)
    client.post("/p/study/consent/", {"agree": "yes"}, follow=True)
    client.post("/p/study/instructions/")
    page = client.get("/p/study/annotate/").content.decode()
    action = re.search(r'action="([^"]*/submit/\d+/)"', page).group(1)
    token = re.search(r'name="client_token" value="([0-9a-f]+)"', page).group(1)
    with CaptureQueriesContext(connection) as queries:
        card = client.post(action, {"client_token": token, "choice": "a"}, HTTP_HX_REQUEST="true")
    assert card.status_code == 200 and b"2</strong> of 4" in card.content
    transactional = ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(transactional)
    ]
    expected = 9
    assert len(statements) == expected, "\n\n".join(statements)
