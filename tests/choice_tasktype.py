"""A small test-only task type: pick "a" or "b". The core's tests use it, never the real ones.

It is written as a task app would be (pydantic Answer, ``PydanticTaskType``), so the shared
contract suite runs over it unchanged.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Literal

import pydantic
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from apps.core.access import project_for_user
from apps.core.media import media_urls
from apps.core.models import Item
from apps.core.qualification import Qualification
from apps.core.registry import (
    ImportField,
    ImportFormat,
    Metric,
    PydanticTaskType,
    RecordSet,
    Results,
    Table,
    generic_import_format,
)


class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["a", "b"]


@login_required
def choice_summary(request: HttpRequest, slug: str) -> HttpResponse:
    """A page of the task type's own, mounted under the project by the core."""
    project = project_for_user(request, slug)
    return HttpResponse(f"{project.items.count()} items", content_type="text/plain")


class ChoiceTaskType(PydanticTaskType):
    key = "test-choice"
    title = "Test choice"
    description = "Pick A or B."
    Answer = Answer
    label_field = "choice"
    answer_messages = {"choice": "Choose A or B."}
    form_template = "core/_choice_form.html"
    allow_skip = True

    def item_context(self, item, participant) -> dict:
        return {
            "question": item.payload.get("text", "Pick one"),
            "choices": [("a", "A"), ("b", "B")],
            "media": media_urls(item=item, participant=participant),
        }

    def import_formats(self) -> list[ImportFormat]:
        return [
            generic_import_format(
                payload=(ImportField("text", "The question shown above the two choices."),),
                rows=[
                    {"id": "q1", "text": "Which is bigger?"},
                    {"id": "q2", "text": "Which is older?", "priority": 2},
                    {"id": "g1", "text": "Pick A.", "kind": "gold", "gold": {"choice": "a"}},
                ],
            )
        ]

    def seed_demo(self, project) -> None:
        Item.objects.bulk_create(
            Item(project=project, external_id=f"demo-{i}", payload={"text": f"Item {i}"})
            for i in range(6)
        )

    def simulate_answer(self, item, rng: random.Random) -> dict:
        return {"choice": rng.choice("ab")}

    def results(self, project) -> Results:
        rows = [[item.external_id, item.answer_count] for item in project.items.order_by("id")]
        return Results(
            metrics=[Metric(key="items", label="Items", value=len(rows))],
            tables=[Table(title="Answers per item", columns=["item", "answers"], rows=rows)],
        )

    def urlpatterns(self) -> list:
        return [path("summary/", choice_summary, name="summary")]

    def exports(self) -> list[RecordSet]:
        return [
            RecordSet(
                key="records",
                title="Items",
                description="One row per item with its answer count.",
                columns=["id", "answers"],
                records=lambda project: (
                    {"id": item.external_id, "answers": item.answer_count}
                    for item in project.items.order_by("id")
                ),
            )
        ]


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
