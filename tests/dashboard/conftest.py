"""A test task type with a pydantic Config and results, to exercise the generic settings
form and the Results tab; the shared fixtures come from tests/conftest.py."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest

from apps.core import registry
from apps.core.registry import Figure, PydanticTaskType, RecordSet, Results, Table


class RatingConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    scale_max: int = pydantic.Field(5, ge=2, le=10, description="Highest point of the scale.")
    question: str = pydantic.Field("How natural is it?", min_length=3)
    anchors: list[str] = ["bad", "excellent"]
    order: Literal["random", "fixed"] = "random"


class RatingAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    score: int = pydantic.Field(ge=1, le=10)


class RatingTaskType(PydanticTaskType):
    key = "test-rating"
    title = "Test rating"
    description = "Rate from 1 to N."
    form_template = "core/_choice_form.html"
    level_of_measurement = "ordinal"
    Config = RatingConfig
    Answer = RatingAnswer
    label_field = "score"
    answer_messages = {"score": "Give a score."}

    def results(self, project) -> Results:
        return Results(
            metrics={"MOS": 3.5, "answers": 12},
            tables=[Table(title="Per system", columns=["system", "MOS"], rows=[["A", 3.25]])],
            figures=[
                Figure(
                    title="Score histogram",
                    kind="histogram",
                    series={"edges": [1, 2, 3, 4, 5, 6], "counts": [1, 2, 4, 3, 2]},
                ),
                Figure(
                    title="Per system bars",
                    kind="bar",
                    series={"labels": ["A", "B"], "values": [3.25, 3.75]},
                ),
            ],
            notes=["A note from the task type."],
        )

    def exports(self) -> list[RecordSet]:
        return [
            RecordSet(
                key="records",
                title="Items",
                description="One row per item.",
                columns=["id", "text"],
                records=lambda project: (
                    {"id": item.external_id, "text": item.payload.get("text", "")}
                    for item in project.items.order_by("id")
                ),
            )
        ]

    def seed_demo(self, project) -> None:
        project.items.create(external_id="demo-1", payload={"text": "demo"})


@pytest.fixture
def rating_type():
    """Registered only for the tests that ask for it, so no other test sees it."""
    task_type = RatingTaskType()
    registry.register(task_type)
    yield task_type
    registry.unregister(task_type.key)
