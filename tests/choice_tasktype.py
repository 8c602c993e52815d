"""A small test-only task type: pick "a" or "b". The core's tests use it, never the real ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import pydantic
from django.core.exceptions import ValidationError

from apps.core.media import media_urls
from apps.core.qualification import Qualification
from apps.core.registry import BaseTaskType


class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["a", "b"]


class ChoiceTaskType(BaseTaskType):
    key = "test-choice"
    title = "Test choice"
    description = "Pick A or B."
    form_template = "core/_choice_form.html"
    allow_skip = True

    def item_context(self, item, participant) -> dict:
        return {
            "question": item.payload.get("text", "Pick one"),
            "choices": [("a", "A"), ("b", "B")],
            "media": media_urls(item=item, participant=participant),
        }

    def value_from_form(self, item, data):
        return {"choice": data.get("choice")}

    def validate(self, item, value) -> dict:
        try:
            return Answer.model_validate(value).model_dump()
        except pydantic.ValidationError as exc:
            raise ValidationError("Choose A or B.") from exc

    def label_of(self, value):
        return (value or {}).get("choice")


CHOICE = ChoiceTaskType()


def _arithmetic_check(participant, data) -> tuple[bool, dict]:
    answer = data.get("sum")
    return answer == "4", {"sum": answer}


class QualifiedChoiceTaskType(ChoiceTaskType):
    """The same task behind a qualification (2 + 2 = ?) whose pass holds for 30 minutes."""

    key = "test-choice-qualified"
    title = "Test choice with a qualification"
    qualification = Qualification(
        template="core/_qualification_choice.html",
        check=_arithmetic_check,
        valid_for=timedelta(minutes=30),
        title="A quick check",
        context=lambda participant: {
            "questions": [("sum", "What is 2 + 2?", [("3", "3"), ("4", "4"), ("5", "5")])]
        },
    )


QUALIFIED_CHOICE = QualifiedChoiceTaskType()
