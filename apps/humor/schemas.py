"""The humor task type's schemas: ``Project.config`` (Config) and ``Annotation.value`` (Answer).

Where CHoRaL leaves a gap (PROTOCOLS.md §1), the choice is a setting here and is recorded with
every computed label (``project.derived["score_meta"]`` and each post's payload). Imports only
the pure ``scores`` module of this app, so any module may import this one.
"""

from __future__ import annotations

from typing import Literal

import pydantic

from .scores import NS_VERSIONS, REACTIONS

Reaction = Literal["like", "love", "care", "haha", "wow", "sad", "angry"]


class Cleaning(pydantic.BaseModel):
    """The corpus-construction rules of PROTOCOLS.md §1.1; each can be switched off."""

    model_config = pydantic.ConfigDict(extra="forbid")
    text_only: bool = True  # drop photo/video/album posts
    english_only: bool = True  # drop posts a stop-word heuristic does not read as English
    drop_link_preview: bool = True  # drop posts with a rendered link preview
    replace_links: bool = True  # replace each un-rendered link in the text by link_token
    link_token: str = pydantic.Field(default="HTTPURL", min_length=1, max_length=40)
    max_chars: int | None = pydantic.Field(default=500, ge=1)  # None: no length limit
    drop_duplicates: bool = True  # drop a post whose id or text was already seen


class Study(pydantic.BaseModel):
    """The human study: how many posts to serve first, drawn evenly across HS strata."""

    model_config = pydantic.ConfigDict(extra="forbid")
    size: int = pydantic.Field(default=300, ge=0)
    strata: int = pydantic.Field(default=5, ge=1, le=100)
    priority: float = 1.0  # the sampled posts' Item.priority; the rest get 0


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    reactions: list[Reaction] = pydantic.Field(
        default_factory=lambda: list(REACTIONS),  # type: ignore[arg-type]
        title="Reactions R",
        description="The reactions HS and NS are computed over; must contain haha.",
    )
    likes_in_total: bool = pydantic.Field(
        True,
        title="Count Likes in the total t",
        description="t is a post's number of reactions, in HS = (h/t)·tanh(t/50) with h its "
        "Haha count. The paper does not say whether t includes Likes; ours does by default.",
    )
    ns_version: str = pydantic.Field(
        "ns_v_slides",
        title="NS formula",
        description="NS, the non-humor score, compares a post's reaction shares O(r) with the "
        "reference S(r) by their mean squared difference MSE. The paper's equation is "
        "unverified, so each form has a name that is recorded with every score.",
        json_schema_extra={
            "enum": list(NS_VERSIONS),
            "choice_labels": {
                "ns_v_slides": "As in the slides: −log(tanh(t/50)·MSE)",
                "ns_v_alt1": "Alternative 1: tanh(t/50)·(−log MSE)",
                "ns_v_alt2": "Alternative 2: −log(MSE / tanh(t/50))",
            },
        },
    )
    s_average: Literal["micro", "macro"] = pydantic.Field(
        "micro",
        title="Reference distribution S",
        description="S(r), the usual share of reaction r, which NS compares each post with. "
        "Micro: all posts' reactions pooled; macro: the mean of the posts' own shares.",
        json_schema_extra={"choice_labels": {"micro": "Micro average", "macro": "Macro average"}},
    )
    k: int = pydantic.Field(
        default=20000,
        ge=1,
        title="Posts per reaction label (K)",
        description="The K posts with the highest HS are labelled humorous, K more "
        "non-humorous (CHoRaL: about 20,000 each). Capped at half the posts with reactions, "
        "so both labels get the same number; the Results tab says when it was capped.",
    )
    negative_rule: Literal["top_NS", "bottom_HS"] = pydantic.Field(
        "top_NS",
        title="Non-humorous posts are",
        description="Which K posts get the non-humorous label (the sources disagree): the "
        "highest non-humor score NS, or the lowest humor score HS among posts with reactions.",
        json_schema_extra={
            "choice_labels": {"top_NS": "The K highest NS", "bottom_HS": "The K lowest HS"}
        },
    )
    seed: int = pydantic.Field(
        13,
        title="Random seed (split and study sample)",
        description="The same seed gives the same train/test split and the same posts for "
        "the human study.",
    )
    test_share: float = pydantic.Field(
        default=0.2,
        gt=0,
        lt=1,
        title="Test share of the split",
        description="Share of the labelled posts held out to score models (CHoRaL: 0.2, an "
        "80:20 split).",
    )
    cleaning: Cleaning = pydantic.Field(default_factory=Cleaning)
    study: Study = pydantic.Field(default_factory=Study)

    @pydantic.field_validator("reactions")
    @classmethod
    def _reactions(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a reaction is listed twice")
        if "haha" not in value:
            raise ValueError("R must contain 'haha' (HS divides the Haha count by t)")
        return [r for r in REACTIONS if r in value]

    @pydantic.field_validator("ns_version")
    @classmethod
    def _ns_version(cls, value: str) -> str:
        if value not in NS_VERSIONS:
            raise ValueError(f"must be one of {', '.join(NS_VERSIONS)}")
        return value

    @pydantic.model_validator(mode="after")
    def _likes(self) -> Config:
        if "like" in self.reactions and not self.likes_in_total:
            raise ValueError(
                "Like is in R but not counted in t: its share O(like) = likes / t would "
                "exceed 1. Either count Likes in t or remove Like from R."
            )
        return self


class Answer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    funny: Literal["yes", "no"]


# The settings that scores, labels, split and study sample depend on (cleaning rules act at
# import and need a new import).
SCORING_KEYS = frozenset(
    {
        "reactions",
        "likes_in_total",
        "ns_version",
        "s_average",
        "k",
        "negative_rule",
        "seed",
        "test_share",
        "study",
    }
)


REACTION_TO_ANSWER = {"humorous": "yes", "non_humorous": "no"}
# The CHoRaL-style export, one record per post (``export_records``); nested values
# (human_answers) are JSON in CSV.
EXPORT_COLUMNS = [
    "post_id",
    "kind",
    "text",
    "created",
    "type",
    *REACTIONS,
    "t",
    "h",
    "hs",
    "ns",
    "ns_version",
    "s_version",
    "reaction_label",
    "split",
    "study_stratum",
    "gold",
    "human_answers",
    "human_yes",
    "human_no",
    "majority_label",
    "majority_confidence",
    "dawid_skene_label",
    "dawid_skene_confidence",
]


def config_of(project) -> Config:
    return Config.model_validate(project.config or {})
