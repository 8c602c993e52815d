"""A small test-only task type: pick "a" or "b". The core's tests use it, never the real ones."""

from __future__ import annotations

from typing import Literal

import pydantic
from django.core.exceptions import ValidationError

from apps.core.media import media_urls
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
