"""The explain task type's schemas: ``Project.config`` (Config), ``Annotation.value`` (per design).

One project runs one inspection design (PROTOCOLS.md §5a, issue 13):

``pairwise``      two overlays of one image under different normalisations: "Which map better
                  covers the <class>?" (A / B / same); one item per (image, pair), the sides
                  randomised per participant and stored side-corrected.
``plausibility``  one overlay rated 1–5; one item per (image, normalisation).
``box``           the participant draws the box around what the heatmap points at; one item
                  per (image, normalisation), scored by IoU with the ground truth.
``counterfactual``  (original, counterfactual) image pairs shown as a flicker: which of two
                  attribute descriptions did the change alter (``counterfactual.py``), or,
                  with ``counterfactual_answer = "describe"``, say in a few words what
                  changed, scored against the pair's keywords (``describe.py``)
``rationale``     text: highlight the words that make a post funny and rate the shown word
                  attribution 1–5 (``text.py`` holds that half's layout). A post row always
                  becomes a rationale item, whatever the design; the design picks the demo.

The data layout every part of the app shares:

Item payload (``Item.payload``)
    ``image_id``        the image (a wsolevaluation image id, e.g. ``test/circle/test_00003.png``)
    ``class_id``, ``class_name``   the ground-truth class (CAMs are GT-known, as WSOL scores them)
    ``width``, ``height``          the image's size in pixels (overlays have the same size)
    ``boxes``           ground-truth boxes ``[x0, y0, x1, y1]`` in image pixels (inclusive)
    ``normalisation``   the overlay shown (plausibility, box); ``normalisations`` [a, b] (pairwise)
    ``auto``            (on the first item of each image only) per normalisation, the
                        image's automatic scores from which the set's
                        MaxBoxAcc, MaxBoxAccV2 and PxAP are recomputed (``metrics.py``):
                        ``iou_v1``/``iou_v2`` (best IoU with a GT box at each CAM threshold,
                        largest contour / all contours) and ``pos``/``neg`` (the PxAP
                        histograms of GT-positive and negative pixels; absent without a mask)

Media keys (``ItemMedia.key``): ``image`` (the plain image), and one overlay PNG per
normalisation the item shows, keyed by the normalisation's name (``minmax``, ``max``, ``pas``,
``ivr``).
"""

from __future__ import annotations

from typing import Literal

import pydantic

from ml.explain.saliency import IVR_PERCENTILE, LABELS, NORMALISATIONS

Design = Literal["pairwise", "plausibility", "box", "rationale", "counterfactual"]

DESIGN_LABELS = {
    "pairwise": "Pairwise: which of two maps covers the object better",
    "plausibility": "Plausibility rating 1–5 of one map",
    "box": "Draw the box the map points at (IoU with the ground truth)",
    "rationale": "Text: highlight the words that make a post funny, rate the attribution 1–5",
    "counterfactual": "Counterfactual pairs: which attribute did the flickering change alter?",
}
CounterfactualMode = Literal["choose", "describe"]
COUNTERFACTUAL_MODE_LABELS = {
    "choose": "Pick which of two descriptions the change belongs to (chance 50 %)",
    "describe": "Describe the change in a few words (scored against the pair's keywords)",
}
DESCRIBE_MAX_CHARS = 60
DESCRIBE_MAX_WORDS = 6
PLAUSIBILITY_SCALE = [
    (1, "Not at all"),
    (2, "Slightly"),
    (3, "Partly"),
    (4, "Mostly"),
    (5, "Completely"),
]
NORMALISATION_LABELS = dict(LABELS)
__all__ = ["NORMALISATIONS", "NORMALISATION_LABELS"]


class Statistics(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    bootstrap_samples: int = pydantic.Field(
        default=200, ge=20, le=5000, title="Bootstrap resamples (Bradley–Terry interval)"
    )
    seed: int = pydantic.Field(default=7, title="Bootstrap seed")
    confidence: float = pydantic.Field(default=0.95, gt=0.5, lt=1, title="Confidence level")


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    design: Design = pydantic.Field(
        default="pairwise",
        title="Inspection design",
        json_schema_extra={"choice_labels": dict(DESIGN_LABELS.items())},
    )
    ivr_percentile: float = pydantic.Field(
        default=IVR_PERCENTILE,
        ge=0.0,
        le=0.99,
        title="IVR percentile",
        description="IVR removes the map's values below this quantile before scaling (0.45 in "
        "the official code). Applies to images imported after the change.",
    )
    class_label: str = pydantic.Field(
        default="",
        max_length=100,
        title="Class name shown",
        description="Empty: each image's own class name (\u201cWhich map better covers the "
        "circle?\u201d); otherwise this word for every image (e.g. \u201cobject\u201d).",
    )
    counterfactual_answer: CounterfactualMode = pydantic.Field(
        default="choose",
        title="Counterfactual answer",
        description="How participants answer in the counterfactual design (StylEx's two "
        "studies): pick one of two attribute descriptions, or describe the change in their "
        "own words.",
        json_schema_extra={"choice_labels": dict(COUNTERFACTUAL_MODE_LABELS.items())},
    )
    statistics: Statistics = pydantic.Field(default_factory=Statistics)

    def class_shown(self, class_name: str) -> str:
        return self.class_label.strip() or class_name


class PairwiseAnswer(pydantic.BaseModel):
    """``choice``: the side picked as shown; ``order``: ``ab`` when normalisation a was shown
    first (left). ``preferred``: ``a`` | ``b`` (the payload's ``normalisations``) | ``same``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["first", "second", "same"]
    order: Literal["ab", "ba"]
    preferred: Literal["a", "b", "same"]


class PlausibilityAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    score: int = pydantic.Field(ge=1, le=5)


class BoxAnswer(pydantic.BaseModel):
    """A box in image pixels, corners inclusive (``x0 <= x1``, ``y0 <= y1``); the task type
    checks it lies inside the image."""

    model_config = pydantic.ConfigDict(extra="forbid")
    x0: int = pydantic.Field(ge=0)
    y0: int = pydantic.Field(ge=0)
    x1: int = pydantic.Field(ge=0)
    y1: int = pydantic.Field(ge=0)

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> BoxAnswer:
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError("Draw a box: its right and bottom edges come after its left and top.")
        return self


class RationaleAnswer(pydantic.BaseModel):
    """``words``: the indices of the words highlighted (the rationale; at least one);
    ``score``: how well the shown attribution explains the post, 1–5."""

    model_config = pydantic.ConfigDict(extra="forbid")
    words: list[int] = pydantic.Field(min_length=1)
    score: int = pydantic.Field(ge=1, le=5)

    @pydantic.field_validator("words", mode="before")
    @classmethod
    def _from_form(cls, value):
        # The form posts "0,3,4"; an empty string is no highlight.
        if isinstance(value, str):
            return [int(v) for v in value.split(",") if v.strip()] if value.strip() else []
        return value

    @pydantic.field_validator("words")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


class CounterfactualAnswer(pydantic.BaseModel):
    """``choice``: the description picked as shown; ``order``: ``ad`` when the true attribute
    was offered first. ``correct``: whether the attribute was picked (side-corrected)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["first", "second"]
    order: Literal["ad", "da"]
    correct: bool


class DescribeAnswer(pydantic.BaseModel):
    """``text``: what the participant says changed, in a few words (cleaned by
    ``describe.clean_description``); ``correct``: whether it names one of the pair's keywords
    (set by the task type, ``describe.matches``)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    text: str = pydantic.Field(min_length=1, max_length=DESCRIBE_MAX_CHARS)
    correct: bool


ANSWERS: dict[str, type[pydantic.BaseModel]] = {
    "pairwise": PairwiseAnswer,
    "plausibility": PlausibilityAnswer,
    "box": BoxAnswer,
    "rationale": RationaleAnswer,
    "counterfactual": CounterfactualAnswer,
    "describe": DescribeAnswer,
}


def config_of(project) -> Config:
    return Config.model_validate(project.config or {})
