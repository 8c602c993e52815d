"""The bench's own task type: pick A or B, rendered with the shared single-choice form.

The benchmarks must not depend on which real task apps are installed, and the test-only type
lives under tests/. This module is imported by the bench script (to create the project) and by
the gunicorn workers through ``bench/gunicorn_bench.py`` (to serve it); app code is untouched.
"""

from __future__ import annotations

from typing import Literal

import pydantic
from django.core.exceptions import ValidationError

from apps.core import registry
from apps.core.registry import BaseTaskType

KEY = "bench-choice"


class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["a", "b"]


class BenchChoiceTaskType(BaseTaskType):
    key = KEY
    title = "Bench: pick A or B"
    description = "Load-test task type used by bench/annotators.py."
    form_template = "core/_choice_form.html"

    def item_context(self, item, participant) -> dict:
        return {
            "question": item.payload.get("text", "Pick one"),
            "choices": [("a", "A"), ("b", "B")],
        }

    def value_from_form(self, item, data) -> dict:
        return {"choice": data.get("choice")}

    def validate(self, item, value) -> dict:
        try:
            return Answer.model_validate(value).model_dump()
        except pydantic.ValidationError as exc:
            raise ValidationError("Choose A or B.") from exc

    def label_of(self, value):
        return (value or {}).get("choice")


BENCH_CHOICE = BenchChoiceTaskType()


def register() -> None:
    registry.register(BENCH_CHOICE)
