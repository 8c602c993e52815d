"""The humor TaskType (CHoRaL): Facebook posts labelled by their reactions and by people.

Config and Answer are the pydantic schemas of ``Project.config`` and ``Annotation.value``.
Where CHoRaL leaves a gap (PROTOCOLS.md §1), the choice is a setting here and is recorded with
every computed label (``project.config["score_meta"]`` and each post's payload).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic
from django.core.exceptions import ValidationError

from apps.core.registry import BaseTaskType, ImportReport, Results

from .scores import NS_VERSIONS, REACTIONS

Reaction = Literal["like", "love", "care", "haha", "wow", "sad", "angry"]
DEMO_DIR = Path(__file__).resolve().parent / "demo"


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
    reactions: list[Reaction] = pydantic.Field(default_factory=lambda: list(REACTIONS))  # R
    likes_in_total: bool = True
    ns_version: str = "ns_v_slides"
    s_average: Literal["micro", "macro"] = "micro"
    k: int = pydantic.Field(default=20000, ge=1)  # posts per reaction label
    negative_rule: Literal["top_NS", "bottom_HS"] = "top_NS"
    seed: int = 13
    test_share: float = pydantic.Field(default=0.2, gt=0, lt=1)
    cleaning: Cleaning = pydantic.Field(default_factory=Cleaning)
    study: Study = pydantic.Field(default_factory=Study)
    # Written by scores_compute, never by hand: S, its version and the choices behind them.
    score_meta: dict[str, Any] | None = None

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


def config_of(project) -> Config:
    return Config.model_validate(project.config or {})


def _messages(exc: pydantic.ValidationError, prefix: str) -> list[str]:
    out = []
    for error in exc.errors():
        where = ".".join(str(p) for p in (prefix, *error["loc"]) if p != "")
        out.append(f"{where}: {error['msg']}")
    return out


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


class HumorTaskType(BaseTaskType):
    key = "humor"
    title = "Humor reaction labeling"
    description = (
        "Read a social-media post and say whether it is meant to be funny. Posts also carry "
        "reaction-derived humor scores (CHoRaL)."
    )
    form_template = "humor/annotate_form.html"
    level_of_measurement = "nominal"
    allow_skip = True
    skip_label = "Not English / can't tell"
    export_columns = EXPORT_COLUMNS

    def default_config(self) -> dict:
        return Config().model_dump()

    def clean_config(self, config: Mapping[str, Any]) -> dict:
        try:
            return Config.model_validate(dict(config)).model_dump()
        except pydantic.ValidationError as exc:
            raise ValidationError(_messages(exc, "config")) from None

    def value_from_form(self, item, data: Mapping[str, Any]) -> Any:
        return {"funny": data.get("funny")}

    def validate(self, item, value: Any) -> dict:
        try:
            return Answer.model_validate(value).model_dump()
        except pydantic.ValidationError:
            raise ValidationError("Choose Yes or No (or skip the post).") from None

    def label_of(self, value: Any) -> Any:
        return value.get("funny") if isinstance(value, dict) else None

    def config_saved(self, project, before: dict) -> str | None:
        """Settings behind the scores changed: recompute them on the worker.

        The study sample is drawn again only while nobody has answered yet; after that the
        items' priorities (and any set by active learning) are kept.
        """
        old = {k: v for k, v in before.items() if k in SCORING_KEYS}
        new = {k: v for k, v in (project.config or {}).items() if k in SCORING_KEYS}
        if old == new or not project.items.exists():
            return None
        from apps.core.jobs import job_create, job_enqueue

        from .tasks import scores_recompute

        resample = not project.annotations.exists()
        job = job_create(kind="humor_rescore", project=project, params={"resample": resample})
        job_enqueue(job, scores_recompute)
        return (
            "Scores, reaction labels and the split are being recomputed on the worker "
            f"(job {job.pk})."
        )

    def item_context(self, item, participant) -> dict:
        from .importing import display_parts

        payload = item.payload or {}
        return {
            "post_parts": display_parts(payload.get("message") or payload.get("text") or ""),
            "question": "Is this post meant to be funny?",
            "choices": [("yes", "Yes"), ("no", "No")],
        }

    def import_items(self, project, upload) -> ImportReport:
        from .services import posts_import

        return posts_import(project=project, upload=upload)

    def results(self, project) -> Results:
        from .selectors import humor_results

        return humor_results(project=project)

    def export_records(self, project) -> Iterator[dict]:
        from .selectors import export_records

        return export_records(project=project)

    def seed_demo(self, project) -> None:
        from .services import demo_seed

        demo_seed(project=project)


HUMOR = HumorTaskType()
