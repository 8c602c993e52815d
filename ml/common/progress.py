"""Progress reporting from training loops to whoever drives them (a Celery task, a bench)."""

from __future__ import annotations

from collections.abc import Callable

from ml.config import TrainingError  # noqa: F401  (defined torch-free, re-exported here)

# ``progress(fraction, message) -> keep_going``; returning False asks the loop to stop.
ProgressFn = Callable[[float, str], bool]


class Cancelled(Exception):
    """The driver asked the run to stop (the job was cancelled)."""


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    """Call ``progress`` and raise :class:`Cancelled` when it says stop."""
    if progress is not None and progress(fraction, message) is False:
        raise Cancelled(message)


def scaled(progress: ProgressFn | None, start: float, end: float) -> ProgressFn | None:
    """A callback mapping 0..1 onto ``start..end`` of ``progress`` (for multi-phase runs)."""
    if progress is None:
        return None

    def inner(fraction: float, message: str) -> bool:
        return progress(start + (end - start) * fraction, message)

    return inner
