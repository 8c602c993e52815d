"""A test task type with a pydantic Config and results, to exercise the generic settings
form and the Results tab; the shared fixtures come from tests/conftest.py."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest
from django.core.exceptions import ValidationError

from apps.core import registry
from apps.core.registry import BaseTaskType, Figure, Results, Table


class RatingConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    scale_max: int = pydantic.Field(5, ge=2, le=10, description="Highest point of the scale.")
    question: str = pydantic.Field("How natural is it?", min_length=3)
    anchors: list[str] = ["bad", "excellent"]
    order: Literal["random", "fixed"] = "random"


class RatingTaskType(BaseTaskType):
    key = "test-rating"
    title = "Test rating"
    description = "Rate from 1 to N."
    form_template = "core/_choice_form.html"
    level_of_measurement = "ordinal"
    Config = RatingConfig

    def default_config(self) -> dict:
        return RatingConfig().model_dump()

    def clean_config(self, config) -> dict:
        return RatingConfig.model_validate(dict(config)).model_dump()

    def validate(self, item, value) -> dict:
        if not isinstance(value, dict) or not isinstance(value.get("score"), int):
            raise ValidationError("Give a score.")
        return value

    def label_of(self, value):
        return (value or {}).get("score")

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

    def export_records(self, project):
        for item in project.items.order_by("id"):
            yield {"id": item.external_id, "text": item.payload.get("text", "")}

    def seed_demo(self, project) -> None:
        project.items.create(external_id="demo-1", payload={"text": "demo"})


@pytest.fixture
def rating_type():
    """Registered only for the tests that ask for it, so no other test sees it."""
    task_type = RatingTaskType()
    registry.register(task_type)
    yield task_type
    registry.unregister(task_type.key)
