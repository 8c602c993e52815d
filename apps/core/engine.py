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
import json
import math
import time
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import answer_rules, hotsql, media, registry, stages
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
    # The participant's finished items (submitted or skipped), counted under their row lock:
    # the item card's progress reuses it instead of counting again. None when not counted.
    done: int | None = None

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


_ITEM = hotsql.Columns(Item, "i")
_ASSIGNMENT = hotsql.Columns(Assignment, "a")

_LIVE_SQL = """
    SELECT COUNT(*) FROM core_assignment r
    WHERE r.item_id = %s AND r.status = 'reserved' AND r.expires_at > %s AND r.id <> %s
"""


def _live_reservations(item_id: int, now, *, exclude_assignment: int | None = None) -> int:
    with hotsql.cursor() as cursor:
        cursor.execute(_LIVE_SQL, [item_id, hotsql.param(now), exclude_assignment or 0])
        return cursor.fetchone()[0]


def _wants_control(project, total_done: int, control_done: int) -> bool:
    """Serve a gold/attention item when the participant is behind the project's rate."""
    if project.gold_rate <= 0:
        return False
    return control_done < math.floor((total_done + 1) * project.gold_rate + 1e-9)


# One upsert reserves the item: a participant's own expired assignment for it is re-reserved.
# For a regular item it inserts only while the item has room — the recount of live
# reservations, in this statement's fresh snapshot, taken while the item's row lock is held,
# so it sees every committed reservation (theirs were made under the same lock).
_RESERVE_SQL = """
    INSERT INTO core_assignment (item_id, participant_id, status, reserved_at, expires_at)
    SELECT %(item)s, %(participant)s, 'reserved', %(now)s, %(expires)s
    WHERE {room}
    ON CONFLICT (item_id, participant_id) DO UPDATE SET
        status = excluded.status, reserved_at = excluded.reserved_at,
        expires_at = excluded.expires_at
    RETURNING {columns}, {media}
"""
_ROOM = """(SELECT COUNT(*) FROM core_assignment r WHERE r.item_id = %(item)s
           AND r.status = 'reserved' AND r.expires_at > %(now)s) < %(room)s"""
# The item's media keys come back with the reservation (a JSON list): the card's media URLs
# need no statement of their own (``apps.core.media.media_urls``).
_MEDIA_KEYS = {
    "postgresql": """(SELECT CAST(COALESCE(json_agg(m.key ORDER BY m.key), '[]') AS TEXT)
        FROM core_itemmedia m WHERE m.item_id = %(item)s)""",
    "sqlite": """(SELECT json_group_array(k.key) FROM (SELECT m.key FROM core_itemmedia m
        WHERE m.item_id = %(item)s ORDER BY m.key) k)""",
}
_RESERVE_REGULAR = {
    vendor: _RESERVE_SQL.format(room=_ROOM, columns=_ASSIGNMENT.bare, media=media)
    for vendor, media in _MEDIA_KEYS.items()
}
_RESERVE_CONTROL = {
    vendor: _RESERVE_SQL.format(room="1 = 1", columns=_ASSIGNMENT.bare, media=media)
    for vendor, media in _MEDIA_KEYS.items()
}


def _reserve(participant: Participant, item: Item, now, *, room: int | None = None):
    """Reserve ``item``; with ``room`` (a regular item, row-locked) only if fewer than
    ``room`` live reservations hold it. None when it had no room."""
    params = {
        "item": item.pk,
        "participant": participant.pk,
        "now": hotsql.param(now),
        "expires": hotsql.param(now + participant.project.reservation_ttl),
        "room": room,
    }
    sql = (_RESERVE_CONTROL if room is None else _RESERVE_REGULAR)[connection.vendor]
    with hotsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = _ASSIGNMENT.build(row)
    assignment.item = item
    assignment.participant = participant
    media.reserved_media_set(assignment, json.loads(row[_ASSIGNMENT.width]))
    return assignment


def _prefill(assignment: Assignment) -> None:
    """Store the pre-filled answer of a new reservation (the model loop's), if it changed.

    Called once the reservation is committed: the providers' queries have no need of the
    item's row lock, which the reservation's transaction holds until it ends.
    """
    prefill = registry.prefill_for(assignment)
    if prefill != assignment.prefill:
        assignment.prefill = prefill
        assignment.save(update_fields=["prefill"])


# The candidate query is the hot path of every request in the annotate loop, so it is written
# once as SQL (the ORM spent longer compiling it than PostgreSQL spends running it). It reads:
# items of the project, not yet seen by this participant (an expired reservation of theirs
# does not count), and for regular items only those with a slot that is neither answered nor
# held by a live reservation — a hint from this statement's snapshot; the recount under the
# row lock decides. Best first: the task type's priority, then the model's, then fewest
# answers, then age. Control items come in an order of their own per participant (MD5 is
# built into PostgreSQL and registered by Django on SQLite).
_CANDIDATE_SQL = """
    SELECT {columns} FROM core_item i
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
        columns=_ITEM.sql,
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
        "now": hotsql.param(now),
        "list_bit": 1 << participant.list_index if listed else 0,
    }
    with hotsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return _ITEM.build(row) if row is not None else None


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
    """The locked candidate had no room after all (a reservation committed meanwhile)."""

    def __init__(self, item_id: int):
        super().__init__(item_id)
        self.item_id = item_id


def _pick_control(participant: Participant, *, now) -> Assignment | None:
    # No row lock: a control item has no overlap to protect, and the participant's own row
    # lock (taken by next_item) already keeps their two tabs from reserving it twice.
    item = _candidate(participant, control=True, exclude=[], now=now)
    return _reserve(participant, item, now) if item is not None else None


def _pick(participant: Participant, *, now, rejected: list[int]) -> Assignment | None:
    """Lock and reserve the best regular candidate; raises ``_Full`` when it had no room.

    The caller then rolls its transaction back, which releases that item's row lock, and
    picks again without it: so a transaction never holds an item's lock while it waits for
    another's (and the usual case, a candidate with room, needs no savepoint).
    """
    item = _lock_next(participant, exclude=rejected, now=now)
    if item is None:
        return None
    # The row lock is held, so the locked row's answer_count is the latest, and the
    # reservation's recount sees every committed reservation.
    room = _wanted(item, participant.project.overlap) - item.answer_count
    assignment = _reserve(participant, item, now, room=room) if room > 0 else None
    if assignment is None:
        raise _Full(item.pk)
    return assignment


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


# The participant's reservations and their finished counts (``participant_counts``) in one
# statement: one row per reservation, or one row of NULLs beside the counts when they hold none.
_HELD_SQL = f"""
    SELECT t.total, t.control, {_ASSIGNMENT.sql}, {_ITEM.sql}
    FROM (SELECT COUNT(*) AS total, COUNT(CASE WHEN fi.kind <> 'regular' THEN 1 END) AS control
          FROM core_assignment f JOIN core_item fi ON fi.id = f.item_id
          WHERE f.participant_id = %(participant)s AND f.status IN ('submitted', 'skipped')) t
    LEFT JOIN core_assignment a ON a.participant_id = %(participant)s AND a.status = 'reserved'
    LEFT JOIN core_item i ON i.id = a.item_id
    ORDER BY a.reserved_at
"""
_LOCK_PARTICIPANT_SQL = "SELECT id FROM core_participant WHERE id = %s FOR NO KEY UPDATE"


def _held(participant: Participant) -> tuple[dict[str, int], list[Assignment]]:
    with hotsql.cursor() as cursor:
        cursor.execute(_HELD_SQL, {"participant": participant.pk})
        rows = cursor.fetchall()
    counts = {"total": rows[0][0], "control": rows[0][1]}
    held = []
    for row in rows:
        if row[2] is None:
            continue
        assignment = _ASSIGNMENT.build(row, 2)
        assignment.item = _ITEM.build(row, 2 + _ASSIGNMENT.width)
        assignment.participant = participant
        held.append(assignment)
    return counts, held


def _assigned(assignment: Assignment | None, done: int) -> NextOutcome:
    if assignment is None:
        return NextOutcome(NextStatus.QUEUE_EMPTY, done=done)
    _prefill(assignment)
    return NextOutcome(NextStatus.ASSIGNED, assignment, done=done)


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
    rejected: list[int] = []  # regular items found full under their lock
    while True:
        try:
            with transaction.atomic():
                # The participant's row lock makes their requests take turns: a second tab
                # waits here, then finds the first tab's reservation below instead of making
                # its own (in a statement of its own, whose snapshot is taken once the lock
                # is held). NO KEY: a submit's insert only takes a key-share lock on this row
                # (foreign key) and must not wait for it. (Not on SQLite, whose writers are
                # serialised anyway.)
                if connection.features.has_select_for_update:
                    with hotsql.cursor() as cursor:
                        cursor.execute(_LOCK_PARTICIPANT_SQL, [participant.pk])
                        if cursor.fetchone() is None:
                            raise Participant.DoesNotExist(participant.pk)
                counts, held = _held(participant)
                done = counts["total"]
                for assignment in held:
                    if assignment.expires_at > now:
                        return NextOutcome(NextStatus.ASSIGNED, assignment, done=done)
                if held:
                    Assignment.objects.filter(pk__in=[a.pk for a in held]).update(
                        status=Assignment.Status.EXPIRED
                    )

                cap = project.items_per_participant
                if cap is not None and done >= cap:
                    return NextOutcome(NextStatus.CAP_REACHED, done=done)
                picked = None
                if _wants_control(project, done, counts["control"]):
                    picked = _pick_control(participant, now=now)
                if picked is None:
                    picked = _pick(participant, now=now, rejected=rejected)
        except _Full as full:
            # Rolled back (a savepoint's rollback when a caller holds a transaction): the
            # full item's row lock is released before anything else is tried.
            rejected.append(full.item_id)
            continue
        # Committed: what is left needs no lock.
        return _assigned(picked, done)


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


# One statement locks the assignment and its item, and reads what can have changed since the
# caller read them (the gate's read, outside the transaction): the assignment's state and
# times, the item's count and wanted answers. The rest of both rows does not change.
_LOCKED_ASSIGNMENT = hotsql.Columns(Assignment, "a", fields=["status", "reserved_at", "expires_at"])
_LOCKED_ITEM = hotsql.Columns(Item, "i", fields=["answer_count", "wanted_answers"])
_LOCK_ASSIGNMENT_SQL = f"""
    SELECT {_LOCKED_ASSIGNMENT.sql}, {_LOCKED_ITEM.sql}
    FROM core_assignment a JOIN core_item i ON i.id = a.item_id
    WHERE a.id = %s {{lock}}
"""


def _lock_assignment(assignment: Assignment) -> Assignment:
    """Lock ``assignment``'s row and its item's; bring both instances up to date in place."""
    sql = _LOCK_ASSIGNMENT_SQL.format(lock=hotsql.lock_clause("FOR UPDATE OF a, i"))
    with hotsql.cursor() as cursor:
        cursor.execute(sql, [assignment.pk])
        row = cursor.fetchone()
    if row is None:
        raise Assignment.DoesNotExist(assignment.pk)
    _LOCKED_ASSIGNMENT.update(assignment, row)
    _LOCKED_ITEM.update(assignment.item, row, _LOCKED_ASSIGNMENT.width)
    return assignment


_ANNOTATION_INSERT_SQL = """
    INSERT INTO core_annotation
        (assignment_id, project_id, item_id, participant_id, value, duration_ms, client_token,
         created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
"""
_ASSIGNMENT_SUBMITTED_SQL = (
    "UPDATE core_assignment SET status = 'submitted', finished_at = %s WHERE id = %s"
)
# PostgreSQL runs a data-modifying WITH once, so the assignment is marked submitted by the
# insert's own statement (one round trip less; the row is ours, locked). SQLite has no DML in
# WITH: two statements there.
_SUBMIT_SQL = f"WITH submitted AS ({_ASSIGNMENT_SUBMITTED_SQL}) {_ANNOTATION_INSERT_SQL}"
# A blocked participant's answer is stored but not counted (Participant.block). The check is
# this statement's, after the insert: the insert's foreign-key lock on the participant's row
# waited for a block in progress (which locks the row FOR UPDATE) to commit, and this
# statement's snapshot, taken after, sees it. Relative (+ 1) under the item's row lock.
_ITEM_COUNT_SQL = """
    UPDATE core_item SET answer_count = answer_count + 1
    WHERE id = %s AND NOT EXISTS (
        SELECT 1 FROM core_participant p WHERE p.id = %s AND p.status = 'blocked')
    RETURNING answer_count
"""
_VALUE_FIELD = Annotation._meta.get_field("value")


def _annotation_store(
    locked: Assignment, *, value: dict, duration_ms: int, client_token: str, now
) -> Annotation:
    """Insert the answer, mark the assignment submitted and count it on the (locked) item."""
    item = locked.item
    annotation = Annotation(
        assignment=locked,
        project_id=item.project_id,
        item=item,
        participant_id=locked.participant_id,
        value=value,
        duration_ms=max(0, min(duration_ms, 2**31 - 1)),
        client_token=client_token,
        created_at=now,
    )
    at = hotsql.param(now)
    row = [
        locked.pk,
        item.project_id,
        item.pk,
        locked.participant_id,
        _VALUE_FIELD.get_db_prep_save(value, connection),
        annotation.duration_ms,
        client_token,
        at,
    ]
    with hotsql.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_SUBMIT_SQL, [at, locked.pk, *row])
            annotation.pk = cursor.fetchone()[0]
        else:
            cursor.execute(_ANNOTATION_INSERT_SQL, row)
            annotation.pk = cursor.fetchone()[0]
            cursor.execute(_ASSIGNMENT_SUBMITTED_SQL, [at, locked.pk])
        annotation._state.adding = False
        cursor.execute(_ITEM_COUNT_SQL, [item.pk, locked.participant_id])
        counted = cursor.fetchone()
    locked.status = Assignment.Status.SUBMITTED
    locked.finished_at = now
    if counted is not None:
        item.answer_count = counted[0]
    return annotation


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
            locked = _lock_assignment(assignment)
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
            annotation = _annotation_store(
                locked, value=clean, duration_ms=duration_ms, client_token=client_token, now=now
            )
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
