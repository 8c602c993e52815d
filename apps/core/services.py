"""Writes on projects and participants (the engine's writes live in ``engine.py``)."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from . import registry
from .engine import NextOutcome
from .models import Annotation, Assignment, Item, Membership, Participant, Project
from .qualification import Qualification

PROLIFIC_REDIRECT = "https://app.prolific.com/submissions/complete?cc={code}"


def _param(params: Mapping[str, str], name: str) -> str:
    return (params.get(name) or "").strip()[:200]


def participant_identity(params: Mapping[str, str]) -> tuple[str, str, str, str] | None:
    """(source, external id, study id, session id) from the entry URL, or None for a plain link."""
    if pid := _param(params, "PROLIFIC_PID"):
        return (
            str(Participant.Source.PROLIFIC),
            pid,
            _param(params, "STUDY_ID"),
            _param(params, "SESSION_ID"),
        )
    if worker := _param(params, "workerId"):
        # MTurk shows the HIT in preview with this placeholder id: it is nobody.
        if _param(params, "assignmentId") == "ASSIGNMENT_ID_NOT_AVAILABLE":
            return None
        return (
            str(Participant.Source.MTURK),
            worker,
            _param(params, "hitId"),
            _param(params, "assignmentId"),
        )
    return None


def participant_find(*, project: Project, params: Mapping[str, str]) -> Participant | None:
    """The participant the entry URL names, if they entered before; never creates one."""
    identity = participant_identity(params)
    if identity is None:
        return None
    source, external_id, _, _ = identity
    return Participant.objects.filter(
        project=project, source=source, external_id=external_id
    ).first()


def participant_enter(*, project: Project, params: Mapping[str, str]) -> Participant:
    """Find or create the participant the entry URL names; a plain link gets a fresh one."""
    identity = participant_identity(params)
    if identity is None:
        participant = Participant.objects.create(
            project=project, source=Participant.Source.LINK, external_id=uuid.uuid4().hex
        )
        return participant_list_assign(participant=participant)
    source, external_id, study_id, session_id = identity
    try:
        with transaction.atomic():
            participant, _ = Participant.objects.get_or_create(
                project=project,
                source=source,
                external_id=external_id,
                defaults={"study_id": study_id, "session_id": session_id},
            )
    except IntegrityError:  # two tabs entered at once: the other one created it
        participant = Participant.objects.get(
            project=project, source=source, external_id=external_id
        )
    return participant_list_assign(participant=participant)


def participant_list_assign(*, participant: Participant) -> Participant:
    """Give the participant the least-used list of the project's balanced design, once.

    A Latin square needs every list taken about equally often; counting under the project's
    row lock makes concurrent entries take turns, so two newcomers never both count the same
    gap. Without lists (``list_count`` 0) nothing happens; a list once given is kept.
    """
    project = participant.project
    if not project.list_count or participant.list_index is not None:
        return participant
    with transaction.atomic():
        # NO KEY: answers being stored meanwhile only key-share the project row.
        Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk").get()
        current = (
            Participant.objects.filter(pk=participant.pk).values_list("list_index", flat=True).get()
        )
        if current is None:
            used = dict(
                Participant.objects.filter(project=project, list_index__isnull=False)
                .values_list("list_index")
                .annotate(n=Count("id"))
            )
            current = min(range(project.list_count), key=lambda n: (used.get(n, 0), n))
            Participant.objects.filter(pk=participant.pk).update(list_index=current)
    participant.list_index = current
    return participant


class Finish(enum.StrEnum):
    FINISHED = "finished"  # earned the completion code (now or earlier)
    NOTHING_ANSWERED = "nothing_answered"  # nothing left, but they answered nothing: no code
    NOT_YET = "not_yet"  # there is still work for them
    BLOCKED = "blocked"  # the researchers (or the gold rule) closed their access


def participant_finish(*, participant: Participant, outcome: NextOutcome, now=None) -> Finish:
    """Finish the participant when nothing is left for them and they answered something.

    The one place that marks a participant finished, i.e. gives them the completion code.
    ``outcome`` is what ``engine.next_item`` just answered for them. Someone who arrives when
    the study is full, or who only skipped, answered nothing and earns no code: otherwise
    anyone with a made-up Prolific id would be paid once the study fills. They stay active,
    so they can still take part if the researchers add items.
    """
    if participant.status == Participant.Status.FINISHED:
        return Finish.FINISHED
    if participant.status == Participant.Status.BLOCKED:
        return Finish.BLOCKED
    if not outcome.nothing_left:
        return Finish.NOT_YET
    if not Annotation.objects.filter(participant=participant).exists():
        return Finish.NOTHING_ANSWERED
    now = now or timezone.now()
    Participant.objects.filter(pk=participant.pk, status=Participant.Status.ACTIVE).update(
        status=Participant.Status.FINISHED, finished_at=now
    )
    participant.refresh_from_db(fields=["status", "finished_at"])
    if participant.status != Participant.Status.FINISHED:  # blocked meanwhile
        return Finish.BLOCKED
    return Finish.FINISHED


def participant_resume(*, participant: Participant) -> bool:
    """A finished participant takes up work that appeared since (a later stage's items).

    They become active again and keep their completion code; running out again finishes
    them again. False when nothing is waiting for them (nothing changes).
    """
    from .engine import work_waiting

    if participant.status != Participant.Status.FINISHED or not work_waiting(
        participant=participant
    ):
        return False
    updated = Participant.objects.filter(
        pk=participant.pk, status=Participant.Status.FINISHED
    ).update(status=Participant.Status.ACTIVE)
    participant.refresh_from_db(fields=["status"])
    return bool(updated)


def completion_redirect_url(participant: Participant) -> str | None:
    if participant.status != Participant.Status.FINISHED:
        return None
    if participant.source == Participant.Source.PROLIFIC:
        return PROLIFIC_REDIRECT.format(code=participant.project.completion_code)
    return None


def screen_out_redirect_url(participant: Participant) -> str | None:
    """Where a screened-out Prolific participant goes back to, with the screen-out code."""
    code = participant.project.screen_out_code
    if participant.source == Participant.Source.PROLIFIC and code:
        return PROLIFIC_REDIRECT.format(code=code)
    return None


def participant_qualify(
    *, participant: Participant, qualification: Qualification, data: Mapping[str, Any]
) -> bool:
    """Run the task type's check on the POSTed ``data`` and store its result; True = passed.

    A participant who fails is screened out, and an item they still hold is released for
    others at once instead of when its reservation runs out.
    """
    passed, details = qualification.check(participant, data)
    with transaction.atomic():
        participant.record_qualification(passed=bool(passed), details=details or {})
        if not passed:
            participant.assignments.filter(status=Assignment.Status.RESERVED).update(
                status=Assignment.Status.EXPIRED
            )
    return bool(passed)


def project_create(
    *, owner, slug: str, title: str, task_type: str, config: dict | None = None, **fields
) -> Project:
    kind = registry.get(task_type)
    clean = kind.clean_config({**kind.default_config(), **(config or {})})
    with transaction.atomic():
        project = Project.objects.create(
            owner=owner, slug=slug, title=title, task_type=task_type, config=clean, **fields
        )
        Membership.objects.create(project=project, user=owner, role=Membership.Role.OWNER)
    return project


# Items per transaction when a model's priorities are written: each batch commits on its own,
# so the engine's row locks on items are never held long behind a big rewrite.
MODEL_PRIORITY_BATCH = 2000


def _batches(pairs: Iterable[tuple[int, float]], size: int):
    it = iter(pairs)
    while batch := list(islice(it, size)):
        yield batch


def item_model_priorities_set(
    *, project: Project, priorities: Iterable[tuple[int, float]], batch_size: int = 0
) -> int:
    """Write ``(item id, model priority)`` pairs of ``project``; returns the items changed.

    For the worker, never a web request: it writes in committed batches of
    ``MODEL_PRIORITY_BATCH`` (so call it outside any transaction), reading ``priorities``
    lazily, one batch at a time. Items not listed keep their model priority; ids of other
    projects are ignored; a value that is not a finite number counts as 0. The task type's
    own ``Item.priority`` is never touched.
    """
    size = batch_size or MODEL_PRIORITY_BATCH
    # Two parameters per row; stay under the backend's limit (999 on old SQLite builds).
    per_statement = min(size, ((connection.features.max_query_params or 2 * size + 1) - 1) // 2)
    changed = 0
    for batch in _batches(priorities, size):
        rows = [(int(pk), float(p) if math.isfinite(float(p)) else 0.0) for pk, p in batch]
        with transaction.atomic():
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                # One UPDATE … FROM (VALUES …) per chunk: PostgreSQL and SQLite (≥ 3.33) both
                # name the columns column1, column2; rows already at their value are skipped.
                values = ", ".join(["(%s, %s)"] * len(chunk))
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE core_item SET model_priority = v.column2 "  # noqa: S608
                        f"FROM (VALUES {values}) AS v "
                        f"WHERE core_item.id = v.column1 AND core_item.project_id = %s "
                        f"AND core_item.model_priority <> v.column2",
                        [x for row in chunk for x in row] + [project.pk],
                    )
                    changed += max(cursor.rowcount, 0)
    return changed


def item_model_priorities_clear(*, project: Project, batch_size: int = 0) -> int:
    """Put every item's model priority of ``project`` back to 0, in committed batches."""
    size = batch_size or MODEL_PRIORITY_BATCH
    changed = 0
    while True:
        with transaction.atomic():
            ids = list(
                Item.objects.filter(project=project)
                .exclude(model_priority=0.0)
                .order_by("pk")
                .values_list("pk", flat=True)[:size]
            )
            if not ids:
                return changed
            changed += Item.objects.filter(pk__in=ids).update(model_priority=0.0)
