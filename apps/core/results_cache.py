"""Results computed once per change of the answers, on the worker, and kept in the database.

Computing a task type's results can be slow (refitting Dawid–Skene, say), so the page never does
it per view. What the results depend on is fingerprinted by :func:`results_version` from a few
aggregate queries (answers, skips, blocked participants, items, settings and derived data): a
new answer or skip changes it without the engine having to bump anything. The page then:

* shows the stored :class:`~apps.core.models.ResultsSnapshot` while its version matches;
* when the answers changed, asks the worker (queue ``default``) once for that version and
  shows the previous numbers marked "computing…", polling with htmx until the new ones land;
* on a project's first open (no snapshot yet) computes in the request, so the demo shows
  numbers at once, on SQLite and without a worker;
* computes in the request too when the worker was asked :data:`INLINE_AFTER` ago and has not
  answered (no worker running), so the page never waits forever.

The Quality tab's figures (:mod:`apps.core.quality_summary`) are computed and stored with the
results, from the same single read of the answers, and follow the same rules.

Results stored by an older code version (another format) are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from . import figures as drawing
from . import registry
from .models import Annotation, Assignment, Item, Participant, Project, ResultsSnapshot
from .quality import shared_reads
from .quality_summary import quality_compute
from .results import InvalidResults, Results, UnknownFigureKind

log = logging.getLogger(__name__)

FORMAT = 3  # bump when Results.to_dict() changes shape: stored snapshots are then recomputed
INLINE_AFTER = timedelta(seconds=20)


def results_version(project: Project) -> str:
    """A fingerprint of everything the project's results are computed from."""
    answers = Annotation.objects.filter(project=project).aggregate(n=Count("id"), last=Max("id"))
    skips = Assignment.objects.filter(
        item__project=project, status=Assignment.Status.SKIPPED
    ).aggregate(n=Count("id"), last=Max("id"))
    # A model's new predictions change results that compare people with it (the model loop's
    # Prediction rows, reached by their relation name: the core does not import the app).
    items = Item.objects.filter(project=project).aggregate(
        n=Count("id", distinct=True), last=Max("id"), predictions=Max("predictions__id")
    )
    blocked = list(
        Participant.objects.filter(project=project, status=Participant.Status.BLOCKED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    # Settings, and what the task type derived from them (e.g. scores recomputed on the worker).
    settings = (
        Project.objects.filter(pk=project.pk)
        .values_list("config", "derived", "model_loop__active_version")
        .first()
    )
    basis = [FORMAT, project.task_type, answers, skips, items, blocked, settings]
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class ResultsPage:
    """What the Results tab shows: the results, their drawn figures, and how fresh they are."""

    results: Results
    svg: dict[str, str]
    answers: int
    computed_at: datetime
    duration_ms: int
    fresh: bool  # False: newer answers exist and the worker is computing them
    quality: dict  # the Quality tab's figures (apps.core.quality_summary)


def results_refresh(*, project: Project) -> ResultsSnapshot:
    """Compute the project's results and Quality figures now and store them (the worker's task
    calls this). The answers are read once for both (:func:`apps.core.quality.shared_reads`)."""
    # The version is taken first: answers arriving during the computation leave it stale.
    version = results_version(project)
    started = time.monotonic()
    with shared_reads():
        results = registry.get(project.task_type).results(project)
        results_ms = int(1000 * (time.monotonic() - started))
        quality = quality_compute(project=project)
        quality["duration_ms"] = int(1000 * (time.monotonic() - started)) - results_ms
    svg = {figure.key: drawing.inline_svg(figure) for figure in results.figures}
    answers = (
        Annotation.objects.filter(project=project, item__kind=Item.Kind.REGULAR)
        .exclude(participant__status=Participant.Status.BLOCKED)
        .count()
    )
    fields = {
        "version": version,
        "data": {
            "format": FORMAT,
            "results": results.to_dict(),
            "svg": svg,
            "answers": answers,
            "quality": quality,
        },
        "computed_at": timezone.now(),
        "duration_ms": int(1000 * (time.monotonic() - started)),
    }
    try:
        with transaction.atomic():
            snapshot, _ = ResultsSnapshot.objects.update_or_create(project=project, defaults=fields)
    except IntegrityError:  # the worker and a page created it at once: keep the later one
        ResultsSnapshot.objects.filter(project=project).update(**fields)
        snapshot = ResultsSnapshot.objects.get(project=project)
    return snapshot


def results_invalidate(*, project: Project) -> None:
    """Forget the stored results (for derived data the fingerprint cannot see)."""
    ResultsSnapshot.objects.filter(project=project).delete()


def _load(snapshot: ResultsSnapshot) -> Results | None:
    data = snapshot.data or {}
    if data.get("format") != FORMAT:
        return None
    try:
        return Results.from_dict(data["results"])
    except (KeyError, TypeError, InvalidResults, UnknownFigureKind):
        return None  # stored by older code: recompute


def _fresh(snapshot: ResultsSnapshot) -> Results:
    """The results of a snapshot this code just stored (always in the current format)."""
    results = _load(snapshot)
    if results is None:
        raise RuntimeError("Results just stored do not load again; see Results.to_dict().")
    return results


def _page(snapshot: ResultsSnapshot, results: Results, *, fresh: bool) -> ResultsPage:
    return ResultsPage(
        results=results,
        svg=snapshot.data.get("svg", {}),
        answers=snapshot.data.get("answers", 0),
        computed_at=snapshot.computed_at,
        duration_ms=snapshot.duration_ms,
        fresh=fresh,
        quality=snapshot.data.get("quality") or {},
    )


def _request_worker(snapshot: ResultsSnapshot, version: str) -> None:
    """Ask the worker once per version; two pages seeing the same change send one task."""
    from .tasks import results_compute

    asked = (
        ResultsSnapshot.objects.filter(pk=snapshot.pk)
        .exclude(requested_version=version)
        .update(requested_version=version, requested_at=timezone.now())
    )
    if asked:

        def send() -> None:
            try:
                results_compute.delay(snapshot.project_id)
            except Exception:  # broker down: the page computes it after INLINE_AFTER
                log.exception("Could not send results_compute for project %s", snapshot.project_id)

        transaction.on_commit(send)


def results_for_page(*, project: Project) -> ResultsPage:
    version = results_version(project)
    snapshot = ResultsSnapshot.objects.filter(project=project).first()
    results = _load(snapshot) if snapshot is not None else None
    if snapshot is None or results is None:
        snapshot = results_refresh(project=project)  # first open: numbers at once
        return _page(snapshot, _fresh(snapshot), fresh=True)
    if snapshot.version == version:
        return _page(snapshot, results, fresh=True)
    waited = (
        snapshot.requested_version == version
        and snapshot.requested_at is not None
        and timezone.now() - snapshot.requested_at > INLINE_AFTER
    )
    if waited:  # asked long ago and still nothing: no worker is running
        snapshot = results_refresh(project=project)
        return _page(snapshot, _fresh(snapshot), fresh=True)
    _request_worker(snapshot, version)
    return _page(snapshot, results, fresh=False)


def quality_stored(*, project: Project) -> dict | None:
    """The Quality figures the worker stored, when they are those of the current answers."""
    snapshot = ResultsSnapshot.objects.filter(project=project).only("version", "data").first()
    if snapshot is None or (snapshot.data or {}).get("format") != FORMAT:
        return None
    if snapshot.version != results_version(project):
        return None
    return snapshot.data.get("quality") or None


def results_stored(*, project: Project) -> Results:
    """The stored results as the page shows them (for figure downloads); computed if none."""
    snapshot = ResultsSnapshot.objects.filter(project=project).first()
    results = _load(snapshot) if snapshot is not None else None
    return results if results is not None else _fresh(results_refresh(project=project))
