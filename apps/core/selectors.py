"""Reads across objects; selectors own their select_related/prefetch_related."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q

from . import hotsql
from .engine import participant_counts
from .models import Assignment, Item, ItemMedia, Participant, Project

ITEM_COUNTS_TTL = 15  # seconds; an import shows up in participants' totals this much later


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def position(self) -> int:
        """The number of the item now on screen ("7 of 20")."""
        return min(self.done + 1, self.total)


def project_item_counts(project: Project) -> tuple[int, int]:
    """(regular items one participant can get, control items), cached briefly: every item
    card shows them, and counting a large project on each request would cost more than the
    rest of the request. A participant gets one item per ``group`` (one utterance across
    systems), so a group counts once."""
    key = f"chorus:item-counts:{project.pk}:{project.created_at.timestamp()}"
    cached = cache.get(key)
    if cached is None:
        regular = Q(kind=Item.Kind.REGULAR)
        counts = Item.objects.filter(project=project).aggregate(
            ungrouped=Count("id", filter=regular & Q(group="")),
            groups=Count("group", filter=regular & ~Q(group=""), distinct=True),
            control=Count("id", filter=~regular),
        )
        cached = (counts["ungrouped"] + counts["groups"], counts["control"])
        cache.set(key, cached, ITEM_COUNTS_TTL)
    return cached


def participant_progress(*, participant: Participant, done: int | None = None) -> Progress:
    """The "7 of 20" of a card; ``done`` when the caller counted it (``NextOutcome.done``)."""
    project = participant.project
    if done is None:
        done = participant_counts(participant)["total"]
    if project.items_per_participant is not None:
        total = project.items_per_participant
    else:
        regular, control = project_item_counts(project)
        if 0 < project.gold_rate < 1:
            # the engine serves a control item whenever the participant falls behind the rate
            total = regular + min(
                control, int(regular * project.gold_rate / (1 - project.gold_rate))
            )
        else:
            total = regular + (control if project.gold_rate >= 1 else 0)
    return Progress(done=done, total=max(total, done))


_A, _I = hotsql.Columns(Assignment, "a"), hotsql.Columns(Item, "i")
_P, _J = hotsql.Columns(Participant, "p"), hotsql.Columns(Project, "j")
_BROWSER_ASSIGNMENT_SQL = f"""
    SELECT {_A.sql}, {_I.sql}, {_P.sql}, {_J.sql}
    FROM core_assignment a
    JOIN core_item i ON i.id = a.item_id
    JOIN core_participant p ON p.id = a.participant_id
    JOIN core_project j ON j.id = p.project_id
    WHERE a.id = %s AND p.public_id = %s AND j.slug = %s
"""
_PUBLIC_ID = Participant._meta.get_field("public_id")


def assignment_of_browser(*, slug: str, public_id, assignment_id: int) -> Assignment | None:
    """Assignment ``assignment_id`` if it is the participant ``public_id``'s in project ``slug``,
    with its item, participant and project attached (one query, the annotate loop's gate);
    None otherwise."""
    from django.db import connection

    with hotsql.cursor() as cursor:
        cursor.execute(
            _BROWSER_ASSIGNMENT_SQL,
            [assignment_id, _PUBLIC_ID.get_db_prep_value(public_id, connection), slug],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = _A.build(row)
    item = _I.build(row, _A.width)
    participant = _P.build(row, _A.width + _I.width)
    project = _J.build(row, _A.width + _I.width + _P.width)
    participant.project = item.project = project
    assignment.item, assignment.participant = item, participant
    return assignment


# Assignments whose media the participant may fetch: the item is (or was, until the
# reservation ran out) in front of them and not yet answered or skipped.
MEDIA_HELD = (Assignment.Status.RESERVED, Assignment.Status.EXPIRED)


def item_media_for_participant(
    *, slug: str, public_id, assignment_id: int, key: str
) -> ItemMedia | None:
    """Media ``key`` of the assignment's item, if the active participant ``public_id`` of
    project ``slug`` holds that assignment; one query, None otherwise."""
    return (
        ItemMedia.objects.filter(
            key=key,
            item__assignments__pk=assignment_id,
            item__assignments__status__in=MEDIA_HELD,
            item__assignments__participant__public_id=public_id,
            item__assignments__participant__project__slug=slug,
            item__assignments__participant__status=Participant.Status.ACTIVE,
        )
        .only("file", "content_type", "size")
        .first()
    )


def item_media_for_project(*, project: Project, item_id: int, key: str) -> ItemMedia | None:
    return (
        ItemMedia.objects.filter(item_id=item_id, item__project=project, key=key)
        .only("file", "content_type", "size")
        .first()
    )


@dataclass(frozen=True)
class QualificationCounts:
    passed: int  # participants whose latest check passed (still working, or finished)
    failed: int  # participants screened out by it

    @property
    def taken(self) -> int:
        return self.passed + self.failed


def qualification_counts(*, project: Project) -> QualificationCounts:
    counts = Participant.objects.filter(project=project).aggregate(
        passed=Count("id", filter=Q(qualification_passed=True)),
        failed=Count("id", filter=Q(qualification_passed=False)),
    )
    return QualificationCounts(passed=counts["passed"], failed=counts["failed"])


def project_is_full(*, project: Project, now=None) -> bool:
    """Whether every regular item has its wanted answers, given or held by a live reservation.

    A hint for the entry page (a full study says so before consent); the engine's locked
    recount still decides what anyone is served. A project without regular items is not
    full: it has none yet (or only control items), which the annotate page explains.
    """
    from django.db.models import F, IntegerField
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    now = now or timezone.now()
    regular = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
    live = Count(
        "assignments",
        filter=Q(assignments__status=Assignment.Status.RESERVED, assignments__expires_at__gt=now),
    )
    wanted = Coalesce(F("wanted_answers"), project.overlap, output_field=IntegerField())
    open_slots = (
        regular.filter(answer_count__lt=wanted)
        .annotate(live=live)
        .filter(live__lt=wanted - F("answer_count"))
    )
    return regular.exists() and not open_slots.exists()


def job_number(job) -> int:
    """The job's number among its project's jobs of the same kind: 1 for the first training.

    Job ids are global (the first training of a new project may be job 57); researchers read
    "Training #1" instead, while URLs and the API keep the id.
    """
    from .models import Job

    if job.pk is None:
        return 0
    return Job.objects.filter(project_id=job.project_id, kind=job.kind, pk__lte=job.pk).count()
