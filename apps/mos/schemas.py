"""The MOS task type's schemas: ``Project.config`` (Config), ``Annotation.value`` (per design).

One project runs one study design (PROTOCOLS.md §2):

``acr``     ACR naturalness 1–5 (VITS, P.800): one item per clip (system × utterance).
``ccr``     CMOS / CCR −3…+3 against the reference system's clip of the same utterance; the
            reference/processed order is randomised per assignment and the vote is stored
            sign-corrected, so it always answers "system vs reference".
``ab``      A/B preference between two systems' clips of one utterance ("no preference" is a
            setting); one item per (utterance, system pair), sides randomised per assignment.
``mushra``  MUSHRA (BS.1534): one item per utterance with the open reference and every
            condition on one screen: all systems, a hidden reference and the platform's 3.5 kHz
            and 7 kHz low-pass anchors, each on a 0–100 slider.

The data layout every part of the app shares:

Item payload (``Item.payload``)
    ``system``       the system (condition) name; for ``ab`` ``system_a``/``system_b``; for
                     ``mushra`` ``conditions`` = {media key: system name}
    ``utterance_id`` the sentence; the item's ``group`` is ``utt:<utterance_id>`` so a listener
                     hears each utterance at most once across systems
    ``text``         the sentence text
    ``role``         ``test`` | ``trap`` | ``gold`` (trap and gold items are ``Item.kind`` gold
                     with ``gold_value`` {"score": expected}; ``trap`` also carries ``prompt``)
    ``clips``        {media key: {"duration_s", "sample_rate", "channels", "lufs",
                     "source": the uploaded file name, kept for researchers}}

Media keys (``ItemMedia.key``): ``audio`` (the clip rated; loudness-normalised copy),
``reference`` (ccr, mushra), ``a``/``b`` (ab), ``c1``…``cN`` (mushra conditions, shuffled per
item so a key says nothing about the system).

Votes, as the statistics read them (``selectors.votes_frame``): one row per vote with columns
``rater`` (participant id), ``item``, ``utterance``, ``system``, ``vote`` (float), ``role``,
``simulated`` (bool) and ``excluded`` (bool, the screening outcome).
"""

from __future__ import annotations

import functools
import json
from typing import Literal

import pydantic

Design = Literal["acr", "ccr", "ab", "mushra"]

DESIGN_LABELS = {
    "acr": "ACR naturalness, 1–5 (MOS)",
    "ccr": "CMOS / CCR, −3…+3 against a reference",
    "ab": "A/B preference",
    "mushra": "MUSHRA, 0–100 with hidden reference and anchors",
}

# P.800 ACR scale (what raters see), best first as the P.808 toolkit's template lists it.
ACR_SCALE = [(5, "Excellent"), (4, "Good"), (3, "Fair"), (2, "Poor"), (1, "Bad")]
# P.800 Annex E / P.808 Annex C comparison scale: "the second compared to the first".
CCR_SCALE = [
    (3, "Much better"),
    (2, "Better"),
    (1, "Slightly better"),
    (0, "About the same"),
    (-1, "Slightly worse"),
    (-2, "Worse"),
    (-3, "Much worse"),
]
# BS.1534 intervals of the 0–100 scale.
MUSHRA_BANDS = [(80, "Excellent"), (60, "Good"), (40, "Fair"), (20, "Poor"), (0, "Bad")]

DEFAULT_QUESTIONS = {
    "acr": "How natural does this sound?",
    "ccr": "Compared with the first sample, how natural does the second sound?",
    "ab": "Which sample sounds more natural?",
    "mushra": "Rate each sample against the reference (100 = indistinguishable from it).",
}

# Names the platform gives the conditions it adds to a MUSHRA item.
HIDDEN_REFERENCE = "hidden_reference"
ANCHOR_35 = "anchor_3.5kHz"
ANCHOR_70 = "anchor_7kHz"
ANCHOR_CUTOFFS_HZ = {ANCHOR_35: 3500.0, ANCHOR_70: 7000.0}


class Stimuli(pydantic.BaseModel):
    """What an uploaded clip must be; the import refuses the whole upload when one fails."""

    model_config = pydantic.ConfigDict(extra="forbid")
    min_duration_s: float = pydantic.Field(default=0.5, gt=0, title="Shortest clip (s)")
    max_duration_s: float = pydantic.Field(default=20.0, gt=0, title="Longest clip (s)")
    min_sample_rate: int = pydantic.Field(default=16000, ge=8000, title="Lowest sample rate (Hz)")
    same_sample_rate: bool = pydantic.Field(
        default=True,
        title="All clips share one sample rate",
        description="A system at another rate than the rest is reported as mismatched.",
    )
    silence_dbfs: float = pydantic.Field(
        default=-60.0,
        title="Silent below (dBFS peak)",
        description="A clip whose peak is lower is silent.",
    )
    clipped_share: float = pydantic.Field(
        default=0.001,
        ge=0,
        le=1,
        title="Clipped above (share of samples at full scale)",
    )
    normalise: bool = pydantic.Field(default=True, title="Serve loudness-normalised copies (VITS)")
    target_lufs: float = pydantic.Field(
        default=-23.0, ge=-70, le=-5, title="Target loudness (LUFS, ITU-R BS.1770)"
    )


class QualityControl(pydantic.BaseModel):
    """P.808-style screening; each rule is a switch and its count is reported."""

    model_config = pydantic.ConfigDict(extra="forbid")
    qualification: bool = pydantic.Field(
        default=True, title="Headphone check first (left/right channels and digits in noise)"
    )
    trapping: bool = pydantic.Field(
        default=True, title="Trapping clips (\u201cplease select Poor\u201d)"
    )
    traps_per_participant: int = pydantic.Field(default=1, ge=0, le=10, title="Trapping clips each")
    gold: bool = pydantic.Field(default=True, title="Gold clips (answer within ±1)")
    gold_tolerance: float = pydantic.Field(default=1.0, ge=0, title="Gold tolerance (points)")
    min_variance: float | None = pydantic.Field(
        default=0.1,
        ge=0,
        title="Lowest variance of a participant's ratings",
        description="P.808 drops a session whose ratings (without gold and traps) vary less "
        "than this; empty: off.",
    )
    min_correlation: float | None = pydantic.Field(
        default=None,
        ge=-1,
        le=1,
        title="Lowest correlation with the consensus",
        description="Pearson r between a rater's votes and the other raters' mean per clip "
        "(clips with at least 3 votes); empty: off.",
    )
    mushra_post_screening: bool = pydantic.Field(
        default=True,
        title="MUSHRA post-screening (BS.1534)",
        description="Excludes a listener who rates the hidden reference below 90, or the 7 kHz "
        "anchor above 90, on more than 15% of items.",
    )


class Statistics(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    confidence: float = pydantic.Field(default=0.95, gt=0.5, lt=1, title="Confidence level")


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    design: Design = pydantic.Field(
        default="acr",
        title="Study design",
        json_schema_extra={"choice_labels": dict(DESIGN_LABELS.items())},
    )
    question: str = pydantic.Field(
        default="",
        max_length=300,
        title="Question",
        description="Empty: the design's usual question (VITS: \u201cHow natural does this "
        "sound?\u201d).",
    )
    reference_system: str = pydantic.Field(
        default="reference",
        max_length=100,
        title="Reference system",
        description="The manifest's system name of the natural recordings (CMOS and MUSHRA "
        "compare against it).",
    )
    allow_no_preference: bool = pydantic.Field(
        default=True, title="A/B: offer \u201cno preference\u201d"
    )
    latin_square: bool = pydantic.Field(
        default=False,
        title="Latin-square lists",
        description="ACR and CMOS: one list per system; each list holds every utterance once, "
        "each system equally often, and a listener hears one list.",
    )
    stimuli: Stimuli = pydantic.Field(default_factory=Stimuli)
    qc: QualityControl = pydantic.Field(default_factory=QualityControl)
    statistics: Statistics = pydantic.Field(default_factory=Statistics)

    @pydantic.model_validator(mode="after")
    def _durations(self) -> Config:
        if self.stimuli.min_duration_s >= self.stimuli.max_duration_s:
            raise ValueError("the shortest clip must be shorter than the longest")
        return self

    def question_text(self) -> str:
        return self.question.strip() or DEFAULT_QUESTIONS[self.design]


# Answers (Annotation.value), one schema per design; ``Answer`` validates any of them.
class AcrAnswer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    score: int = pydantic.Field(ge=1, le=5)


class CcrAnswer(pydantic.BaseModel):
    """``shown``: the vote as the listener gave it (second vs first); ``order``: ``rp`` when the
    reference played first. ``score`` is sign-corrected: system vs reference."""

    model_config = pydantic.ConfigDict(extra="forbid")
    shown: int = pydantic.Field(ge=-3, le=3)
    order: Literal["rp", "pr"]
    score: int = pydantic.Field(ge=-3, le=3)


class AbAnswer(pydantic.BaseModel):
    """``choice``: the side picked as shown; ``order``: ``ab`` when system_a played first.
    ``preferred``: ``a`` | ``b`` (the payload's systems) | ``none``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    choice: Literal["first", "second", "none"]
    order: Literal["ab", "ba"]
    preferred: Literal["a", "b", "none"]


class MushraAnswer(pydantic.BaseModel):
    """``scores``: {system name: 0–100}, every condition of the item rated."""

    model_config = pydantic.ConfigDict(extra="forbid")
    scores: dict[str, float]

    @pydantic.field_validator("scores")
    @classmethod
    def _range(cls, value: dict[str, float]) -> dict[str, float]:
        for system, score in value.items():
            if not 0 <= score <= 100:
                raise ValueError(f"{system}: a rating is between 0 and 100")
        return value


ANSWERS: dict[str, type[pydantic.BaseModel]] = {
    "acr": AcrAnswer,
    "ccr": CcrAnswer,
    "ab": AbAnswer,
    "mushra": MushraAnswer,
}


def config_of(project) -> Config:
    """The project's settings, parsed once per distinct config (the annotate loop asks for them
    several times a request). The returned model is shared: read it, never change it."""
    return _parsed(json.dumps(project.config or {}, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _parsed(config_json: str) -> Config:
    return Config.model_validate(json.loads(config_json))
