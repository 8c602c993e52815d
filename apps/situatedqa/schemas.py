"""The SituatedQA task type's schemas: ``Project.config`` and the answer of each stage.

One project runs the three stages of the paper's crowdsourcing (PROTOCOLS.md §4.1) for the
temporal variant, the geographic one, or both; every item's payload carries its ``variant``
(``temp`` | ``geo``) and its ``Item.stage``:

``identify``  "Has the answer to this question changed over time?" / "Does the answer to
              this question depend on where it is asked?": Yes / No / Maybe / Malformed.
``collect``   temporal: the current answer with the date it started to apply and the
              previous one with its date (each date with a 4-digit year; "Missing" allowed;
              an "answer is a list" flag, then the most recent item). Geographic: verify the
              (location, answer) pair the NQ question gave, then two new pairs whose answers
              differ, or "no other location has a different answer".
``validate``  another participant marks one collected response correct or not, and may
              give a correction with the collect stage's fields.

Item payload (every stage): ``variant``, ``question``, ``id`` (the official integer id, or
the researcher's); stage 1 also ``source_dataset``, ``nq_answers``, geo ``nq_question`` and
``given`` (``{"location", "answers"}``) when the import had them, and ``official`` — what the
official release says about the question, for comparison and the demo's simulated people:
``id_row`` (the id_data row as imported), ``raw`` (the raw_data row as imported). A validate
item's payload adds ``collected`` (the response checked) and ``collect_answer`` (its id).
"""

from __future__ import annotations

import re
from typing import Literal

import pydantic

Variant = Literal["temp", "geo"]
VARIANTS: tuple[Variant, ...] = ("temp", "geo")
VARIANT_LABELS = {"temp": "Temporal", "geo": "Geographic"}
STAGES = ("identify", "collect", "validate")
STAGE_LABELS = {
    "identify": "1 · Is it context-dependent?",
    "collect": "2 · Collect answers per context",
    "validate": "3 · Validate a collected answer",
}

DEPENDENT_CHOICES = ("yes", "no", "maybe", "malformed")
DEPENDENT_LABELS = {"yes": "Yes", "no": "No", "maybe": "Maybe", "malformed": "Malformed question"}

# The official form's rule for a date (temp_ctx_ans.html): it must contain a 4-digit year.
# The browser checks the same pattern (static/situatedqa/situatedqa.js).
YEAR_IN_DATE = re.compile(r"\d{4}")
DATE_MESSAGE = "needs a 4-digit year, e.g. 2018 or July 11, 2018"

MAX_ANSWER = 500
MAX_DATE = 100
MAX_TITLE = 300
MAX_LOCATION = 200

VARIANT_CHOICES = {
    "both": "Both: temporal and geographic questions",
    "temp": "Temporal only (does the answer change over time?)",
    "geo": "Geographic only (does the answer depend on where it is asked?)",
}


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    variants: Literal["both", "temp", "geo"] = pydantic.Field(
        default="both",
        title="Variants this project runs",
        description="An import of the other variant's questions is refused.",
        json_schema_extra={"choice_labels": dict(VARIANT_CHOICES)},  # type: ignore[dict-item]
    )
    identify_answers: int = pydantic.Field(
        default=3, ge=1, le=50, title="Answers per question in stage 1 (identify)"
    )
    collect_answers: int = pydantic.Field(
        default=2, ge=1, le=50, title="Answers per question in stage 2 (collect)"
    )
    validate_answers: int = pydantic.Field(
        default=1, ge=1, le=50, title="Validations per collected answer (stage 3)"
    )
    present_year: int = pydantic.Field(
        default=2021,
        ge=1900,
        le=2100,
        title="Year of the present",
        description="The current answers hold up to this year: the contexts sampled while an "
        "answer held, and the date of a static (not time-dependent) question, are drawn up "
        "to it. The release sampled up to 2021.",
    )
    sampled_per_answer: int = pydantic.Field(
        default=2,
        ge=0,
        le=10,
        title="Sampled dates per answer",
        description="Contexts drawn while each collected answer held (the release drew 2).",
    )
    seed: int = pydantic.Field(default=7, title="Seed of the sampled dates")

    def runs(self, variant: str) -> bool:
        return self.variants in ("both", variant)

    @property
    def variant_list(self) -> list[Variant]:
        return [v for v in VARIANTS if self.runs(v)]

    def wanted(self, stage: str) -> int:
        return {
            "identify": self.identify_answers,
            "collect": self.collect_answers,
            "validate": self.validate_answers,
        }[stage]


def config_of(project) -> Config:
    return Config.model_validate(project.config or {})


class IdentifyAnswer(pydantic.BaseModel):
    """Stage 1. The model trainer of ``ml/situatedqa`` reads ``dependent``: keep its shape."""

    model_config = pydantic.ConfigDict(extra="forbid")
    dependent: Literal["yes", "no", "maybe", "malformed"]


class TempCollectFields(pydantic.BaseModel):
    """Stage 2, temporal (the official part-2 fields). A missing answer has no text and no
    date: ``cur_missing`` / ``prev_missing`` say so explicitly, so an empty form is refused
    rather than read as "both missing"."""

    model_config = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)
    list_answer: bool = False
    cur_missing: bool = False
    cur_answer: str | None = pydantic.Field(default=None, max_length=MAX_ANSWER)
    cur_answer_start: str | None = pydantic.Field(default=None, max_length=MAX_DATE)
    prev_missing: bool = False
    prev_answer: str | None = pydantic.Field(default=None, max_length=MAX_ANSWER)
    prev_answer_start: str | None = pydantic.Field(default=None, max_length=MAX_DATE)
    article_title: str = pydantic.Field(default="", max_length=MAX_TITLE)


class GeoPair(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)
    location: str = pydantic.Field(min_length=1, max_length=MAX_LOCATION)
    answer: str = pydantic.Field(min_length=1, max_length=MAX_ANSWER)
    article: str = pydantic.Field(default="", max_length=MAX_TITLE)


class GeoCollectFields(pydantic.BaseModel):
    """Stage 2, geographic (the official part-5 fields): the given pair's verification
    (None when the question came without one) and up to two new pairs."""

    model_config = pydantic.ConfigDict(extra="forbid", str_strip_whitespace=True)
    orig_is_correct: Literal["yes", "no"] | None = None
    orig_article: str = pydantic.Field(default="", max_length=MAX_TITLE)
    no_other: bool = False
    pairs: list[GeoPair] = pydantic.Field(default_factory=list, max_length=2)


class ValidateFields(pydantic.BaseModel):
    """Stage 3: ``correct`` and, when not, an optional ``correction`` with the collect
    stage's fields of the item's variant (checked by the task type)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    correct: Literal["yes", "no"]
    correction: dict | None = None


_FORGED_BOX = "The “{}” box came with a value a checkbox cannot send; reload the page."
ANSWER_MESSAGES = {
    "dependent": "Choose Yes, No, Maybe or Malformed question.",
    "correct": "Say whether the response is correct: Yes or No.",
    "orig_is_correct": "Say whether the given answer is right: Yes or No.",
    "list_answer": _FORGED_BOX.format("the answer is a list"),
    "cur_missing": _FORGED_BOX.format("Missing (current answer)"),
    "prev_missing": _FORGED_BOX.format("Missing (answer before it)"),
    "no_other": _FORGED_BOX.format("No other location has a different answer"),
}
