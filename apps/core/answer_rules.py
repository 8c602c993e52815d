"""The fast-answer and constant-answer rules, beside gold: how scripted workers are caught.

A worker answering every item in 0.3 s, or always with the same answer, is blocked as soon as
the project's rule sees enough answers (regular items only; gold has its own rule). A rule that
is off still flags: the Quality tab and the participants export show who would trip it.

- fast: the median seconds per item is below ``fast_block_below_s`` after at least
  ``fast_block_after`` answers;
- constant: the last ``constant_block_after`` answers have one label between them (zero
  variance, as ITU-T P.808's check on ratings).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import registry
from .models import Annotation, Item, Participant, Project

FAST = "Fast answers"
CONSTANT = "Constant answers"
# Without a threshold of its own, the fast flag (not the block) uses this, and the constant
# flag this many answers.
DEFAULT_FAST_S = 2.0
DEFAULT_CONSTANT_N = 10


@dataclass(frozen=True)
class AnswerFlags:
    fast: bool = False
    constant: bool = False

    def as_list(self) -> list[str]:
        return [name for name, on in (("fast", self.fast), ("constant", self.constant)) if on]


def _fast(project: Project, durations_ms: list[int], threshold: float | None) -> str | None:
    if threshold is None or len(durations_ms) < project.fast_block_after:
        return None
    median = statistics.median(durations_ms) / 1000
    if median < threshold:
        return (
            f"{FAST}: median {median:.1f} s per item over {len(durations_ms)} items "
            f"(under {threshold:g} s)"
        )
    return None


def _constant(labels_newest_first: list, n: int | None) -> str | None:
    if not n or len(labels_newest_first) < n:
        return None
    last = labels_newest_first[:n]
    if all(label == last[0] for label in last):
        return f"{CONSTANT}: the same answer ({last[0]}) to the last {n} items"
    return None


def _answers(participant: Participant) -> list[tuple[int, object]]:
    """(duration_ms, value) of the participant's regular answers, newest first."""
    return list(
        Annotation.objects.filter(participant=participant, item__kind=Item.Kind.REGULAR)
        .order_by("-id")
        .values_list("duration_ms", "value")
    )


def participant_check_answers(*, participant: Participant) -> bool:
    """Apply the project's fast and constant rules; True when the participant was blocked."""
    project = participant.project
    if participant.status == Participant.Status.BLOCKED:
        return False
    if project.fast_block_below_s is None and not project.constant_block_after:
        return False
    answers = _answers(participant)
    task_type = registry.get(project.task_type)
    reason = _fast(project, [d for d, _ in answers], project.fast_block_below_s) or _constant(
        [task_type.label_of(v) for _, v in answers], project.constant_block_after
    )
    if reason:
        participant.block(reason)
        return True
    return False


def project_answer_flags(*, project: Project, frame: Any = None) -> dict[int, AnswerFlags]:
    """Per participant id: would the fast or the constant rule trip (on, or at its default)?

    From the project's answers read once (``frame``: :func:`apps.core.quality.answers_read`).
    """
    from .quality import answers_read

    frame = answers_read(project) if frame is None else frame
    if frame.empty:
        return {}
    threshold = project.fast_block_below_s or DEFAULT_FAST_S
    n = project.constant_block_after or DEFAULT_CONSTANT_N
    newest_first = frame.sort_values("id", ascending=False)
    durations = newest_first["duration_ms"].to_numpy()
    labels = newest_first["label"].to_numpy()
    # The per-participant rules themselves (_fast, _constant), on each one's rows of the frame.
    return {
        int(pid): AnswerFlags(
            fast=_fast(project, durations[rows].tolist(), threshold) is not None,
            constant=_constant(labels[rows[:n]].tolist(), n) is not None,
        )
        for pid, rows in newest_first.groupby("worker", sort=False).indices.items()
    }


PARTICIPANT_COLUMNS = [
    "participant_id",
    "source",
    "external_id",
    "status",
    "blocked_reason",
    "answers",
    "median_seconds",
    "flag_fast_answers",
    "flag_constant_answers",
]


def participant_records(project: Project) -> Iterator[dict]:
    """One row per participant with both flags, for the ``participants`` export."""
    from .quality import answers_read

    frame = answers_read(project)
    flags = project_answer_flags(project=project, frame=frame)
    medians: dict[int, list[int]] = {}
    for participant_id, duration in zip(frame["worker"], frame["duration_ms"], strict=True):
        medians.setdefault(int(participant_id), []).append(int(duration))
    for p in Participant.objects.filter(project=project).order_by("created_at", "id"):
        durations = medians.get(p.pk, [])
        flag = flags.get(p.pk, AnswerFlags())
        yield {
            "participant_id": str(p.public_id),
            "source": p.source,
            "external_id": p.external_id,
            "status": p.status,
            "blocked_reason": p.blocked_reason,
            "answers": len(durations),
            "median_seconds": round(statistics.median(durations) / 1000, 3) if durations else None,
            "flag_fast_answers": flag.fast,
            "flag_constant_answers": flag.constant,
        }
