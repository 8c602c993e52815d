"""A test-only three-stage task type, registered only by the tests that ask for it.

Stage ``check`` ("Is this a question about a place?", 3 answers): on a majority of yes, stage
``write`` ("write the answer", 1 answer); then stage ``validate`` (1 answer, never by the
author of the stage-2 answer). The worker process registers it through
``tests/stages_worker.py``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
import pytest

from apps.core import registry
from apps.core.registry import ChildSpec, InvalidValue, PydanticTaskType


class CheckAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["yes", "no"]


class WriteAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    text: str = pydantic.Field(min_length=1, max_length=2000)


class ValidateAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["valid", "invalid"]


ANSWERS: dict[str, type[pydantic.BaseModel]] = {
    "check": CheckAnswer,
    "write": WriteAnswer,
    "validate": ValidateAnswer,
}


class StagesTaskType(PydanticTaskType):
    key = "test-stages"
    title = "Test stages"
    description = "Check, write, validate."
    Answer = CheckAnswer
    label_field = "choice"
    form_template = "core/_choice_form.html"

    def _stage(self, item) -> str:
        return item.stage or "check"

    def form_template_for(self, item) -> str:
        if self._stage(item) == "write":
            return "core/_text_form.html"
        return "core/_choice_form.html"

    def item_context(self, item, participant) -> dict:
        stage = self._stage(item)
        text = item.payload.get("text", "")
        if stage == "check":
            return {
                "question": f"Is this a question about a place? {text}",
                "choices": [("yes", "Yes"), ("no", "No")],
            }
        if stage == "write":
            return {"question": "Write the answer.", "context_text": text}
        return {
            "question": f"Does “{item.payload.get('answer', '')}” answer “{text}”?",
            "choices": [("valid", "Valid"), ("invalid", "Invalid")],
        }

    def value_from_form(self, item, data: Mapping[str, Any]) -> Any:
        return {name: data.get(name) for name in ANSWERS[self._stage(item)].model_fields}

    def validate(self, item, value: Any) -> dict:
        try:
            return ANSWERS[self._stage(item)].model_validate(value).model_dump(mode="json")
        except pydantic.ValidationError as exc:
            raise InvalidValue.from_pydantic(exc) from None

    def simulate_answer(self, item, rng: random.Random) -> dict:
        return {"choice": rng.choice(["yes", "no"])}

    def advance(self, item) -> list[ChildSpec]:
        stage = self._stage(item)
        answers = list(item.annotations.order_by("id"))
        if stage == "check":
            yes = sum(a.value.get("choice") == "yes" for a in answers)
            if yes * 2 <= len(answers):
                return []
            return [
                ChildSpec(
                    key="write",
                    stage="write",
                    payload={"text": item.payload.get("text", "")},
                    wanted_answers=1,
                )
            ]
        if stage == "write":
            (answer,) = answers
            return [
                ChildSpec(
                    key="validate",
                    stage="validate",
                    payload={"text": item.payload.get("text", ""), "answer": answer.value["text"]},
                    wanted_answers=1,
                    exclude=(answer.participant_id,),
                )
            ]
        return []


def register() -> StagesTaskType:
    task_type = StagesTaskType()
    registry.register(task_type)
    return task_type


@pytest.fixture
def stages_type():
    """Registered only for the tests that ask for it, so the contract suite never sees it."""
    task_type = register()
    yield task_type
    registry.unregister(task_type.key)
