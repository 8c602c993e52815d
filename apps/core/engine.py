"""The assignment engine: who gets which item next, and how an answer is stored.

Invariants (tested under concurrency on PostgreSQL, ``tests/core/test_concurrency.py``):

* no regular item gets more than ``project.overlap`` submitted answers;
* nobody is served the same item twice (unique item + participant);
* no accepted answer is lost;
* a repeated submit (same ``client_token``) is stored once.

Overlap is enforced where it cannot race: under the item's row lock, counting live
reservations with a fresh statement after the lock is held. Candidates are chosen with
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent annotators never wait on each other.
SQLite has no row locks; there the connection's IMMEDIATE transactions serialise writers.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import answer_rules, registry
from .models import Annotation, Assignment, Item, Participant


class SubmitRefused(Exception):
    """The answer cannot be stored; ``message`` is safe to show the participant."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class SubmitOutcome:
    annotation: Annotation
    created: bool  # False when this was a repeated submit of an answer already stored


def _live_reservations(item_id: int, now, *, exclude_assignment: int | None = None) -> int:
    qs = Assignment.objects.filter(
        item_id=item_id, status=Assignment.Status.RESERVED, expires_at__gt=now
    )
    if exclude_assignment is not None:
        qs = qs.exclude(pk=exclude_assignment)
    return qs.count()


def _wants_control(project, total_done: int, control_done: int) -> bool:
    """Serve a gold/attention item when the participant is behind the project's rate."""
    if project.gold_rate <= 0:
        return False
    return control_done < math.floor((total_done + 1) * project.gold_rate + 1e-9)


def _reserve(participant: Participant, item: Item, now) -> Assignment:
    # One upsert: a participant's own expired assignment for this item is re-reserved.
    (assignment,) = Assignment.objects.bulk_create(
        [
            Assignment(
                item=item,
                participant=participant,
                status=Assignment.Status.RESERVED,
                reserved_at=now,
                expires_at=now + participant.project.reservation_ttl,
            )
        ],
        update_conflicts=True,
        unique_fields=["item", "participant"],
        update_fields=["status", "reserved_at", "expires_at"],
    )
    assignment.item = item
    prefill = registry.prefill_for(assignment)
    if prefill != assignment.prefill:
        assignment.prefill = prefill
        assignment.save(update_fields=["prefill"])
    return assignment


# The candidate query is the hot path of every request in the annotate loop, so it is written
# once as SQL (the ORM spent longer compiling it than PostgreSQL spends running it). It reads:
# items of the project, not yet seen by this participant (an expired reservation of theirs
# does not count), and for regular items only those with a slot that is neither answered nor
# held by a live reservation — a hint from this statement's snapshot; the recount under the
# row lock decides. Best first: priority, then fewest answers, then age.
_CANDIDATE_SQL = """
    SELECT i.* FROM core_item i
    WHERE i.project_id = %(project)s AND {kind}
      AND NOT EXISTS (
        SELECT 1 FROM core_assignment s
        WHERE s.item_id = i.id AND s.participant_id = %(participant)s AND s.status <> 'expired')
      {exclude}
    ORDER BY {order}
    LIMIT 1 {lock}
"""
_REGULAR = """i.kind = 'regular' AND i.answer_count < %(overlap)s
      AND (SELECT COUNT(*) FROM core_assignment r
           WHERE r.item_id = i.id AND r.status = 'reserved' AND r.expires_at > %(now)s)
          < %(overlap)s - i.answer_count"""


def _candidate(
    participant: Participant, *, control: bool, exclude: list[int], now, lock: str = ""
) -> Item | None:
    sql = _CANDIDATE_SQL.format(
        kind="i.kind <> 'regular'" if control else _REGULAR,
        exclude=f"AND i.id NOT IN ({', '.join(str(int(pk)) for pk in exclude)})" if exclude else "",
        order="i.id" if control else "i.priority DESC, i.answer_count, i.id",
        lock=lock,
    )
    params = {
        "project": participant.project_id,
        "participant": participant.pk,
        "overlap": participant.project.overlap,
        "now": now,
    }
    return next(iter(Item.objects.raw(sql, params)), None)


def _lock_next(participant: Participant, *, control: bool, exclude: list[int], now) -> Item | None:
    """Lock the best candidate, skipping rows other annotators hold right now.

    When every candidate is held (the end of the queue), wait for a lock instead: a held
    item may still have a free slot once its holder commits, and "nothing left" must not
    be said while work remains.
    """
    args = {"control": control, "exclude": exclude, "now": now}
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: the IMMEDIATE transaction already serialises writers.
        return _candidate(participant, **args)
    for _ in range(5):
        item = _candidate(participant, lock="FOR UPDATE OF i SKIP LOCKED", **args)
        if item is None:
            item = _candidate(participant, lock="FOR UPDATE OF i", **args)
        if item is not None or _candidate(participant, **args) is None:
            return item
    return None


class _Full(Exception):
    pass


def _pick(participant: Participant, *, control: bool, now) -> Assignment | None:
    overlap = participant.project.overlap
    rejected: list[int] = []
    while True:
        try:
            # A savepoint per candidate: rolling it back releases the row lock of an item
            # found full, so this transaction never holds a lock while it waits for another.
            with transaction.atomic():
                item = _lock_next(participant, control=control, exclude=rejected, now=now)
                if item is None:
                    return None
                # The row lock is held: this fresh count sees every committed reservation.
                if control or item.answer_count + _live_reservations(item.pk, now) < overlap:
                    return _reserve(participant, item, now)
                raise _Full
        except _Full:
            rejected.append(item.pk)


def _retry_deadlocks(fn):
    """Run ``fn`` again when PostgreSQL aborts it as a deadlock victim (it did nothing).

    Only when ``fn`` owns its transaction: inside a caller's transaction the whole of it was
    aborted, so the caller must decide.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if connection.in_atomic_block:
            return fn(*args, **kwargs)
        for attempt in range(4):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
                if code not in {"40P01", "40001"} or attempt == 3:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper


def participant_counts(participant: Participant) -> dict[str, int]:
    finished = (Assignment.Status.SUBMITTED, Assignment.Status.SKIPPED)
    return participant.assignments.filter(status__in=finished).aggregate(
        total=Count("id"),
        control=Count("id", filter=~Q(item__kind=Item.Kind.REGULAR)),
    )


@_retry_deadlocks
def next_item(*, participant: Participant, now=None) -> Assignment | None:
    """Return the participant's live reservation, or reserve the best open item for them.

    ``None`` means there is nothing (more) for this participant: cap reached or no open item.
    """
    now = now or timezone.now()
    project = participant.project
    with transaction.atomic():
        held = list(
            participant.assignments.filter(status=Assignment.Status.RESERVED)
            .select_related("item")
            .order_by("reserved_at")
        )
        for assignment in held:
            if assignment.expires_at > now:
                return assignment
        if held:
            Assignment.objects.filter(pk__in=[a.pk for a in held]).update(
                status=Assignment.Status.EXPIRED
            )

        cap = project.items_per_participant
        if cap is None and project.gold_rate <= 0:
            return _pick(participant, control=False, now=now)
        counts = participant_counts(participant)
        if cap is not None and counts["total"] >= cap:
            return None
        if _wants_control(project, counts["total"], counts["control"]):
            picked = _pick(participant, control=True, now=now)
            if picked is not None:
                return picked
        return _pick(participant, control=False, now=now)


@_retry_deadlocks
def annotation_submit(
    *,
    assignment: Assignment,
    value,
    client_token: str,
    duration_ms: int | None = None,
    now=None,
) -> SubmitOutcome:
    """Validate and store the answer to ``assignment``; safe to call twice with one token.

    Raises ``ValidationError`` for an invalid answer (nothing stored) and ``SubmitRefused``
    when the item no longer takes answers from this participant.
    """
    if not client_token or len(client_token) > 64:
        raise SubmitRefused("The form was incomplete; please reload the page.", code="token")
    item = assignment.item
    project = item.project
    clean = registry.get(project.task_type).validate(item, value)
    now = now or timezone.now()
    try:
        with transaction.atomic():
            # One statement locks the assignment and its item.
            locked = (
                Assignment.objects.select_for_update(of=("self", "item"))
                .select_related("item")
                .get(pk=assignment.pk)
            )
            item = locked.item
            if locked.status == Assignment.Status.SUBMITTED:
                return SubmitOutcome(locked.annotation, created=False)
            if locked.status == Assignment.Status.SKIPPED:
                raise SubmitRefused("You skipped this item.", code="skipped")
            if not item.is_control:
                taken = item.answer_count
                if not locked.is_live(now):
                    taken += _live_reservations(item.pk, now, exclude_assignment=locked.pk)
                if taken >= project.overlap:
                    if locked.status == Assignment.Status.RESERVED:
                        locked.status = Assignment.Status.EXPIRED
                        locked.save(update_fields=["status"])
                    raise SubmitRefused(
                        "Your time on this item ran out and it was given to someone else. "
                        "Here is your next item.",
                        code="reassigned",
                    )
            if duration_ms is None:
                duration_ms = int((now - locked.reserved_at).total_seconds() * 1000)
            annotation = Annotation.objects.create(
                assignment=locked,
                project_id=item.project_id,
                item=item,
                participant_id=locked.participant_id,
                value=clean,
                duration_ms=max(0, min(duration_ms, 2**31 - 1)),
                client_token=client_token,
                created_at=now,
            )
            locked.status = Assignment.Status.SUBMITTED
            locked.finished_at = now
            locked.save(update_fields=["status", "finished_at"])
            item.answer_count += 1
            item.save(update_fields=["answer_count"])
    except IntegrityError:
        # The same token raced in through another assignment: the first one won.
        existing = Annotation.objects.filter(client_token=client_token).first()
        if existing is not None and existing.assignment_id == assignment.pk:
            return SubmitOutcome(existing, created=False)
        raise SubmitRefused("This form was already used for another item.", code="token") from None
    if item.is_control:
        participant_check_gold(participant=annotation.participant)
    elif project.fast_block_below_s is not None or project.constant_block_after:
        answer_rules.participant_check_answers(participant=annotation.participant)
    return SubmitOutcome(annotation, created=True)


def assignment_skip(*, assignment: Assignment, now=None) -> None:
    now = now or timezone.now()
    Assignment.objects.filter(
        pk=assignment.pk, status__in=[Assignment.Status.RESERVED, Assignment.Status.EXPIRED]
    ).update(status=Assignment.Status.SKIPPED, finished_at=now)


def reservations_expire(*, now=None) -> int:
    """Mark every stale reservation expired (housekeeping; correctness never depends on it)."""
    now = now or timezone.now()
    return Assignment.objects.filter(status=Assignment.Status.RESERVED, expires_at__lte=now).update(
        status=Assignment.Status.EXPIRED
    )


def gold_accuracy(participant: Participant) -> tuple[int, int]:
    """(correct, answered) over the participant's gold and attention items."""
    task_type = registry.get(participant.project.task_type)
    answers = Annotation.objects.filter(participant=participant).exclude(
        item__kind=Item.Kind.REGULAR
    )
    correct = answered = 0
    for annotation in answers.select_related("item"):
        answered += 1
        correct += bool(task_type.gold_correct(annotation.item, annotation.value))
    return correct, answered


def participant_check_gold(*, participant: Participant) -> bool:
    """Apply the project's automatic rule; returns True when the participant was blocked."""
    project = participant.project
    if project.gold_block_below is None or participant.status == Participant.Status.BLOCKED:
        return False
    correct, answered = gold_accuracy(participant)
    if answered >= project.gold_block_after and correct / answered < project.gold_block_below:
        participant.block(
            f"Gold accuracy {correct}/{answered} below {project.gold_block_below:.0%}"
        )
        return True
    return False
