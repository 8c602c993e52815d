"""Reads for the researcher dashboard and the API: progress counts and per-participant quality.

Each selector runs a fixed number of queries whatever the project's size (no N+1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Sum
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from apps.core.answer_rules import CONSTANT, FAST
from apps.core.models import Annotation, Assignment, Item, ItemMedia, Job, Participant, Project
from apps.core.quality import Aggregate
from apps.core.quality_summary import quality_compute


@dataclass(frozen=True)
class ProjectCounts:
    items: int
    gold_items: int
    items_complete: int
    answers: int
    answers_needed: int
    participants: int
    participants_active: int
    participants_blocked: int
    participants_finished: int
    answers_last_hour: int

    @property
    def percent(self) -> int:
        return round(100 * self.answers / self.answers_needed) if self.answers_needed else 0

    @property
    def answers_remaining(self) -> int:
        return max(0, self.answers_needed - self.answers)

    @property
    def eta(self) -> timedelta | None:
        """Time left at the last hour's pace; None when nothing was answered in the last hour."""
        if not self.answers_remaining:
            return timedelta(0)
        if not self.answers_last_hour:
            return None
        return timedelta(hours=self.answers_remaining / self.answers_last_hour)


def project_counts(*, project: Project) -> ProjectCounts:
    # An item's own wanted answers override the project's overlap (a stage that wants 1).
    wanted = Coalesce(F("wanted_answers"), project.overlap, output_field=IntegerField())
    items = Item.objects.filter(project=project).aggregate(
        items=Count("id", filter=Q(kind=Item.Kind.REGULAR)),
        gold=Count("id", filter=~Q(kind=Item.Kind.REGULAR)),
        complete=Count("id", filter=Q(kind=Item.Kind.REGULAR, answer_count__gte=wanted)),
        answered=Sum(
            Least(F("answer_count"), wanted, output_field=IntegerField()),
            filter=Q(kind=Item.Kind.REGULAR),
        ),
        needed=Sum(wanted, filter=Q(kind=Item.Kind.REGULAR)),
    )
    # Counted once they were given work: someone who consented and met a full study, or who
    # was screened out before any item, took part in nothing.
    given_work = Exists(Assignment.objects.filter(participant=OuterRef("pk")))
    people = Participant.objects.filter(given_work, project=project).aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status=Participant.Status.ACTIVE)),
        blocked=Count("id", filter=Q(status=Participant.Status.BLOCKED)),
        finished=Count("id", filter=Q(status=Participant.Status.FINISHED)),
    )
    hour_ago = timezone.now() - timedelta(hours=1)
    answers = Annotation.objects.filter(project=project, item__kind=Item.Kind.REGULAR).aggregate(
        total=Count("id"), last_hour=Count("id", filter=Q(created_at__gte=hour_ago))
    )
    return ProjectCounts(
        items=items["items"],
        gold_items=items["gold"],
        items_complete=items["complete"],
        # Capped per item, so answers beyond overlap (late submits) do not overstate progress.
        answers=items["answered"] or 0,
        answers_needed=items["needed"] or 0,
        participants=people["total"],
        participants_active=people["active"],
        participants_blocked=people["blocked"],
        participants_finished=people["finished"],
        answers_last_hour=answers["last_hour"],
    )


@dataclass
class ParticipantQuality:
    participant: Participant
    answers: int = 0
    median_seconds: float | None = None
    gold_correct: int = 0
    gold_answered: int = 0
    agreement: float | None = None  # share of their labels equal to the item's aggregate
    agreement_n: int = 0
    flags: list[str] = field(default_factory=list)  # "fast", "constant" (apps.core.answer_rules)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_answered if self.gold_answered else None


@dataclass
class ProjectQuality:
    rows: list[ParticipantQuality]
    alpha: float | None
    level: str
    method: str
    aggregate_count: int  # items with an aggregated label
    # The first aggregated items: (external id, aggregate); the download has them all.
    aggregate_head: list[tuple[str, Aggregate]]
    # How many participants each automatic rule blocked: gold, fast, constant.
    blocked_by: dict[str, int] = field(default_factory=dict)
    # How many are flagged (whether or not the rule blocks).
    flagged: dict[str, int] = field(default_factory=dict)


def project_quality(
    *, project: Project, method: str = "majority", data: dict | None = None
) -> ProjectQuality:
    """Per-participant figures, Krippendorff's alpha and the first aggregated labels.

    ``data``: the stored figures (:func:`apps.core.quality_summary.quality_compute`, as the
    worker stored them with the results); without it they are computed now, for ``method``.
    Participants are read live (names, statuses), their figures from ``data``.
    """
    if data is None or method not in data.get("methods", {}):
        data = quality_compute(project=project, methods=[method])
    participants = list(Participant.objects.filter(project=project).order_by("created_at", "id"))
    figures = data["participants"]
    by_method = data["methods"][method]
    rows = []
    for p in participants:
        row = ParticipantQuality(participant=p)
        mine = figures.get(str(p.pk))
        if mine:
            row.answers = mine["answers"]
            row.median_seconds = mine["median_seconds"]
            row.gold_correct = mine["gold_correct"]
            row.gold_answered = mine["gold_answered"]
            row.flags = list(mine["flags"])
        agreed = by_method["agreement"].get(str(p.pk))
        if agreed:
            row.agreement, row.agreement_n = agreed
        rows.append(row)
    reasons = [p.blocked_reason for p in participants if p.status == Participant.Status.BLOCKED]
    return ProjectQuality(
        rows=rows,
        alpha=data["alpha"],
        level=data["level"],
        method=method,
        aggregate_count=by_method["count"],
        aggregate_head=[
            (external_id, Aggregate(label=label, confidence=confidence, n=n, tie=tie))
            for external_id, label, confidence, n, tie in by_method["head"]
        ],
        blocked_by={
            "gold": sum(r.startswith("Gold accuracy") for r in reasons),
            "fast": sum(r.startswith(FAST) for r in reasons),
            "constant": sum(r.startswith(CONSTANT) for r in reasons),
        },
        flagged={flag: sum(flag in row.flags for row in rows) for flag in ("fast", "constant")},
    )


def import_jobs(*, project: Project, limit: int = 5):
    return Job.objects.filter(project=project, kind="items_import").order_by("-created_at")[:limit]


ITEMS_PER_PAGE = 20


def items_page(*, project: Project, query: str = "", page: str | int = 1):
    """One page of the project's items for the Data tab, those matching ``query`` if given.

    The search looks at the id and the payload's ``text`` (what most task types show);
    a page number out of range gives the last page.
    """
    from django.core.paginator import Paginator

    items = Item.objects.filter(project=project)
    if query:
        items = items.filter(Q(external_id__icontains=query) | Q(payload__text__icontains=query))
    items = items.order_by("id").prefetch_related(
        Prefetch("media_files", queryset=ItemMedia.objects.order_by("key"), to_attr="media")
    )
    return Paginator(items, ITEMS_PER_PAGE).get_page(page)


@dataclass(frozen=True)
class DeleteSummary:
    """What deleting a project loses, said on the confirmation page before it is done."""

    items: int
    answers: int
    participants: int
    jobs: int


def project_delete_summary(*, project: Project) -> DeleteSummary:
    return DeleteSummary(
        items=Item.objects.filter(project=project).count(),
        answers=Annotation.objects.filter(project=project).count(),
        participants=Participant.objects.filter(project=project).count(),
        jobs=Job.objects.filter(project=project).count(),
    )


def gold_unserved(project: Project) -> int:
    """How many gold and attention-check items will never be served (the gold rate is 0)."""
    if project.gold_rate > 0:
        return 0
    return Item.objects.filter(project=project).exclude(kind=Item.Kind.REGULAR).count()
