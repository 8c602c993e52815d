"""A test task type with a pydantic Config and results, to exercise the generic settings
form and the Results tab; the shared fixtures come from tests/conftest.py."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest

from apps.core import registry
from apps.core.registry import PydanticTaskType, RecordSet
from apps.core.results import (
    BarFigure,
    BarSeries,
    GridImage,
    HistogramFigure,
    ImageGridFigure,
    LineFigure,
    LineSeries,
    Metric,
    Results,
    ScatterFigure,
    Table,
)


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
        # One figure of every kind; the image grid shows the items' media files.
        images = [
            GridImage(name=item.media.name, caption=item.external_id, alt="a test image")
            for item in project.items.exclude(media="").order_by("id")
        ]
        return Results(
            metrics=[
                Metric(key="mos", label="MOS", value=3.5, group="Scores", interval=(3.2, 3.8)),
                Metric(key="answers", label="Answers", value=12, group="Answers"),
                Metric(
                    key="gold",
                    label="Gold accuracy",
                    value=None,
                    group="Answers",
                    note="no gold items yet",
                ),
            ],
            tables=[Table(title="Per system", columns=["system", "MOS"], rows=[["A", 3.25]])],
            figures=[
                HistogramFigure(
                    title="Score histogram",
                    edges=[1, 2, 3, 4, 5, 6],
                    counts=[1, 2, 4, 3, 2],
                    x_label="score",
                    y_label="ratings",
                ),
                BarFigure(
                    title="Per system bars",
                    categories=["A", "B"],
                    series=[
                        BarSeries(
                            name="MOS", values=[3.25, 3.75], lower=[3.0, 3.5], upper=[3.5, 4.0]
                        )
                    ],
                    y_label="mean opinion score",
                    y_range=(1, 5),
                ),
                ScatterFigure(
                    title="Model against humans",
                    x=[3.1, 3.9],
                    y=[3.0, 4.1],
                    labels=["A", "B"],
                    x_label="human MOS",
                    y_label="predicted MOS",
                    diagonal=True,
                ),
                LineFigure(
                    title="MOS by training step",
                    x=[1, 2, 3],
                    series=[LineSeries(name="A", y=[2.5, 3.0, 3.25])],
                    x_label="training step",
                    y_label="mean opinion score",
                ),
                ImageGridFigure(title="Samples", images=images, columns=3),
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
