"""The bench's own task type: pick A or B, rendered with the shared single-choice form.

The benchmarks must not depend on which real task apps are installed, so they reuse the
tests' pick-A-or-B type under a key of their own. This module is imported by the bench script (to create the project) and by
the gunicorn workers through ``bench/gunicorn_bench.py`` (to serve it); app code is untouched.
"""

from __future__ import annotations

from apps.core import registry
from tests.choice_tasktype import ChoiceTaskType

KEY = "bench-choice"


class BenchChoiceTaskType(ChoiceTaskType):
    """The tests' pick-A-or-B type under its own key, without the skip button."""

    key = KEY
    title = "Bench: pick A or B"
    description = "Load-test task type used by bench/annotators.py."
    allow_skip = False


BENCH_CHOICE = BenchChoiceTaskType()


def register() -> None:
    registry.register(BENCH_CHOICE)
