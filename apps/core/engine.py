"""The assignment engine: who gets which item next, and how an answer is stored.

Invariants (tested under concurrency on PostgreSQL, ``tests/core/test_concurrency.py``):

* no regular item gets more than its wanted answers (``Item.wanted_answers``, else
  ``project.overlap``);
* a participant gets at most one item of a group, never an item that excludes them, and
  only items of their list (``Participant.list_index``) when the project has lists;
* nobody is served the same item twice (unique item + participant);
* no accepted answer is lost;
* a repeated submit (same ``client_token``) is stored once; a second answer with another
  token is refused, the first one kept;
* a participant holds at most one live reservation and never exceeds
  ``project.items_per_participant`` (``next_item`` locks the participant's row first, so two
  tabs of one person queue behind each other instead of reserving two items).

Overlap is enforced where it cannot race: under the item's row lock, counting live
reservations with a fresh statement after the lock is held. Candidates are chosen with
``SELECT … FOR UPDATE SKIP LOCKED`` so concurrent annotators never wait on each other.
Gold and attention items ignore overlap, so they are picked without a row lock, in an order
that differs per participant (a hash of participant and item), so that not everyone meets the
same check first. SQLite has no row locks; there the connection's IMMEDIATE transactions
serialise writers.
"""

from __future__ import annotations

import enum
import functools
import math
import time
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import answer_rules, registry, stages
from .models import Annotation, Assignment, Item, Participant


class SubmitRefused(Exception):
    """The answer cannot be stored; ``message`` is safe to show the participant."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


class NextStatus(enum.StrEnum):
    ASSIGNED = "assigned"  # ``assignment`` is the participant's live reservation
    CAP_REACHED = "cap_reached"  # they did ``items_per_participant`` items
    QUEUE_EMPTY = "queue_empty"  # no open item is left for them
    NOT_LIVE = "not_live"  # the project is not taking answers (draft, paused, closed)


@dataclass(frozen=True)
class NextOutcome:
    """What ``next_item`` found: an assignment, or why there is none."""

    status: NextStatus
    assignment: Assignment | None = None

    @property
    def assigned(self) -> bool:
        return self.status == NextStatus.ASSIGNED

    @property
    def nothing_left(self) -> bool:
        """Nothing more for this participant in this project: the time to finish."""
        return self.status in (NextStatus.CAP_REACHED, NextStatus.QUEUE_EMPTY)


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
# row lock decides. Best first: the task type's priority, then the model's, then fewest
# answers, then age. Control items come in an order of their own per participant (MD5 is
# built into PostgreSQL and registered by Django on SQLite).
_CANDIDATE_SQL = """
    SELECT i.* FROM core_item i
    WHERE i.project_id = %(project)s AND {kind}
      AND NOT EXISTS (
        SELECT 1 FROM core_assignment s
        WHERE s.item_id = i.id AND s.participant_id = %(participant)s AND s.status <> 'expired')
      AND (i."group" = '' OR NOT EXISTS (
        SELECT 1 FROM core_assignment ga JOIN core_item gi ON gi.id = ga.item_id
        WHERE ga.participant_id = %(participant)s AND gi.project_id = i.project_id
          AND gi."group" = i."group" AND gi.id <> i.id))
      AND NOT EXISTS (
        SELECT 1 FROM core_itemexclusion x
        WHERE x.item_id = i.id AND x.participant_id = %(participant)s)
      {lists} {exclude}
    ORDER BY {order}
    LIMIT 1 {lock}
"""
# The per-participant rules above are data, read here and nowhere else (so SKIP LOCKED and
# the one round trip stay): a group is closed to a participant once they were given any of
# its other items, in any state (they have seen it, even if it expired or was skipped); an
# exclusion closes one item to one participant; a participant with a list sees the items of
# that list and those in every list (mask 0). Their own requests take turns on the
# participant's row lock, so none of these rules can race.
_LISTS = "AND (i.list_mask = 0 OR (i.list_mask & %(list_bit)s) <> 0)"
_REGULAR = """i.kind = 'regular' AND i.answer_count < COALESCE(i.wanted_answers, %(overlap)s)
      AND (SELECT COUNT(*) FROM core_assignment r
           WHERE r.item_id = i.id AND r.status = 'reserved' AND r.expires_at > %(now)s)
          < COALESCE(i.wanted_answers, %(overlap)s) - i.answer_count"""
_REGULAR_ORDER = "i.priority DESC, i.model_priority DESC, i.answer_count, i.id"
# A task type with ``shuffle_items`` (a listening test: each listener in their own random
# order, so no listener hears one system throughout) breaks the remaining ties by the same
# per-participant hash as control items, instead of by age.
_SHUFFLED_ORDER = (
    "i.priority DESC, i.model_priority DESC, i.answer_count, "
    "MD5(CAST(i.id AS TEXT) || ':' || CAST(%(participant)s AS TEXT)), i.id"
)
_CONTROL_ORDER = "MD5(CAST(i.id AS TEXT) || ':' || CAST(%(participant)s AS TEXT)), i.id"


def _wanted(item: Item, overlap: int) -> int:
    return item.wanted_answers if item.wanted_answers is not None else overlap


def _regular_order(participant: Participant) -> str:
    task_type = registry.get(participant.project.task_type)
    return _SHUFFLED_ORDER if task_type.shuffle_items else _REGULAR_ORDER


def _candidate(
    participant: Participant, *, control: bool, exclude: list[int], now, lock: str = ""
) -> Item | None:
    listed = participant.list_index is not None
    sql = _CANDIDATE_SQL.format(
        kind="i.kind <> 'regular'" if control else _REGULAR,
        lists=_LISTS if listed else "",
        exclude=f"AND i.id NOT IN ({', '.join(str(int(pk)) for pk in exclude)})" if exclude else "",
        order=_CONTROL_ORDER if control else _regular_order(participant),
        lock=lock,
    )
    params = {
        "project": participant.project_id,
        "participant": participant.pk,
        "overlap": participant.project.overlap,
        "now": now,
        "list_bit": 1 << participant.list_index if listed else 0,
    }
    return next(iter(Item.objects.raw(sql, params)), None)


def _lock_next(participant: Participant, *, exclude: list[int], now) -> Item | None:
    """Lock the best regular candidate, skipping rows other annotators hold right now.

    When every candidate is held (the end of the queue), wait for a lock instead: a held
    item may still have a free slot once its holder commits. Go on until a row is locked or
    the plain query finds no candidate at all — "nothing left" must not be said while work
    remains. Each round that finds nothing means another transaction committed meanwhile,
    so the loop ends with the queue.
    """
    args = {"control": False, "exclude": exclude, "now": now}
    if not connection.features.has_select_for_update_skip_locked:
        # SQLite: the IMMEDIATE transaction already serialises writers.
        return _candidate(participant, **args)
    while True:
        item = _candidate(participant, lock="FOR UPDATE OF i SKIP LOCKED", **args)
        if item is None:
            item = _candidate(participant, lock="FOR UPDATE OF i", **args)
        if item is not None or _candidate(participant, **args) is None:
            return item


class _Full(Exception):
    pass


def _pick_control(participant: Participant, *, now) -> Assignment | None:
    # No row lock: a control item has no overlap to protect, and the participant's own row
    # lock (taken by next_item) already keeps their two tabs from reserving it twice.
    item = _candidate(participant, control=True, exclude=[], now=now)
    return _reserve(participant, item, now) if item is not None else None


def _pick(participant: Participant, *, now) -> Assignment | None:
    overlap = participant.project.overlap
    rejected: list[int] = []
    while True:
        try:
            # A savepoint per candidate: rolling it back releases the row lock of an item
            # found full, so this transaction never holds a lock while it waits for another.
            with transaction.atomic():
                item = _lock_next(participant, exclude=rejected, now=now)
                if item is None:
                    return None
                # The row lock is held: this fresh count sees every committed reservation.
                if item.answer_count + _live_reservations(item.pk, now) < _wanted(item, overlap):
                    return _reserve(participant, item, now)
                raise _Full(item.pk)
        except _Full as full:
            rejected.append(full.args[0])


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


def _assigned(assignment: Assignment | None) -> NextOutcome:
    if assignment is None:
        return NextOutcome(NextStatus.QUEUE_EMPTY)
    return NextOutcome(NextStatus.ASSIGNED, assignment)


@_retry_deadlocks
def next_item(*, participant: Participant, now=None) -> NextOutcome:
    """The participant's live reservation, or a reservation of the best open item for them.

    The outcome says why there is none: the cap is reached, no open item is left for them,
    or the project is not live.
    """
    now = now or timezone.now()
    project = participant.project
    if not project.is_live:
        return NextOutcome(NextStatus.NOT_LIVE)
    with transaction.atomic():
        # The participant's row lock makes their requests take turns: a second tab waits
        # here, then finds the first tab's reservation below instead of making its own.
        # NO KEY: a submit's insert only takes a key-share lock on this row (foreign key) and
        # must not wait for it. (A no-op on SQLite, whose writers are serialised anyway.)
        Participant.objects.select_for_update(no_key=True).filter(pk=participant.pk).values_list(
            "pk"
        ).get()
        held = list(
            participant.assignments.filter(status=Assignment.Status.RESERVED)
            .select_related("item")
            .order_by("reserved_at")
        )
        for assignment in held:
            if assignment.expires_at > now:
                return NextOutcome(NextStatus.ASSIGNED, assignment)
        if held:
            Assignment.objects.filter(pk__in=[a.pk for a in held]).update(
                status=Assignment.Status.EXPIRED
            )

        cap = project.items_per_participant
        if cap is None and project.gold_rate <= 0:
            return _assigned(_pick(participant, now=now))
        counts = participant_counts(participant)
        if cap is not None and counts["total"] >= cap:
            return NextOutcome(NextStatus.CAP_REACHED)
        if _wants_control(project, counts["total"], counts["control"]):
            picked = _pick_control(participant, now=now)
            if picked is not None:
                return NextOutcome(NextStatus.ASSIGNED, picked)
        return _assigned(_pick(participant, now=now))


def work_waiting(*, participant: Participant, now=None) -> bool:
    """Whether an open regular item is waiting for ``participant``, without reserving it.

    For someone who finished: in a staged project the next stage's items appear after they
    ran out (a validation of others' answers), and the done page offers to continue.
    """
    project = participant.project
    if not project.is_live:
        return False
    cap = project.items_per_participant
    if cap is not None and participant_counts(participant)["total"] >= cap:
        return False
    return _candidate(participant, control=False, exclude=[], now=now or timezone.now()) is not None


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
                if locked.annotation.client_token == client_token:
                    return SubmitOutcome(locked.annotation, created=False)  # a double click
                # Another form for the same item (a second tab, the back button): answers are
                # not edited after the fact, and the participant must know theirs was not.
                raise SubmitRefused(
                    "You had already answered this item; your first answer was kept.",
                    code="already_answered",
                )
            if locked.status == Assignment.Status.SKIPPED:
                raise SubmitRefused("You skipped this item.", code="skipped")
            if not item.is_control:
                taken = item.answer_count
                if not locked.is_live(now):
                    taken += _live_reservations(item.pk, now, exclude_assignment=locked.pk)
                if taken >= _wanted(item, project.overlap):
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
            # A blocked participant's answer is stored but not counted (Participant.block);
            # read after the insert, which waited for a block in progress to commit.
            if not Participant.objects.filter(
                pk=locked.participant_id, status=Participant.Status.BLOCKED
            ).exists():
                item.answer_count += 1
                item.save(update_fields=["answer_count"])
            if not item.is_control and item.answer_count >= _wanted(item, project.overlap):
                # Complete: the task type's next stage (if it has one), once this commits.
                transaction.on_commit(
                    functools.partial(
                        stages.advance_enqueue, item_id=item.pk, task_type_key=project.task_type
                    )
                )
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
