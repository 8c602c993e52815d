"""Reads across objects for the CoPhy results, replay pages, exports and trainer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from apps.core.models import Annotation, Item, Participant, Project
from apps.training.models import ModelVersion, Prediction
from ml.cophy.layout import Example

from .models import Scene


@dataclass(frozen=True)
class Answer:
    """One stored answer with what its item showed."""

    annotation: int
    participant: int
    simulated: bool
    blocked: bool
    item: int
    item_external_id: str
    example_id: str
    scenario: str
    condition: str
    gold: bool
    value: dict[str, Any]
    duration_ms: int
    created_at: datetime


def answers(project: Project, *, scene: Scene | None = None) -> Iterator[Answer]:
    """Every answer of the project (or of one scene), oldest first, blocked participants'
    included and marked."""
    rows = Annotation.objects.filter(project=project)
    if scene is not None:
        rows = rows.filter(item__group=f"scene:{scene.example_id}")
    rows = rows.select_related("item", "participant").order_by("id")
    for a in rows.iterator(chunk_size=500):
        payload = a.item.payload or {}
        yield Answer(
            annotation=a.pk,
            participant=a.participant_id,
            simulated=a.participant.simulated,
            blocked=a.participant.status == Participant.Status.BLOCKED,
            item=a.item_id,
            item_external_id=a.item.external_id,
            example_id=payload.get("example_id", ""),
            scenario=payload.get("scenario", ""),
            condition=payload.get("condition", ""),
            gold=a.item.kind != Item.Kind.REGULAR,
            value=a.value,
            duration_ms=a.duration_ms,
            created_at=a.created_at,
        )


def used_answers(project: Project) -> list[Answer]:
    """The answers the results count: not a blocked participant's."""
    return [a for a in answers(project) if not a.blocked]


def scenes(project: Project) -> list[Scene]:
    return list(Scene.objects.filter(project=project).order_by("id"))


def examples(project: Project) -> dict[str, tuple[Scene, Example]]:
    """example id → (scene, its arrays as an Example), every scene of the project."""
    return {s.example_id: (s, s.example()) for s in scenes(project)}


def scene_for(project: Project, scene_id: int) -> Scene | None:
    return Scene.objects.filter(project=project, pk=scene_id).first()


def model_version(project: Project) -> ModelVersion | None:
    """The model the results compare with: the project's active one, else the newest ready."""
    loop = getattr(project, "model_loop", None)
    try:
        active = loop.active_version if loop is not None else None
    except ModelVersion.DoesNotExist:  # pragma: no cover - SET_NULL keeps this from happening
        active = None
    if active is not None and active.trainer == "cophy":
        return active
    return (
        ModelVersion.objects.filter(
            project=project, trainer="cophy", status=ModelVersion.Status.READY
        )
        .order_by("-number")
        .first()
    )


@dataclass(frozen=True)
class ModelTrajectory:
    positions: np.ndarray  # (T−1, K, 3)
    split: str  # train | test: whether the model was trained on this scene


def model_trajectories(version: ModelVersion | None) -> dict[str, ModelTrajectory]:
    """example id → the model's predicted D; one per scene (its items share it)."""
    if version is None:
        return {}
    out: dict[str, ModelTrajectory] = {}
    rows = (
        Prediction.objects.filter(model_version=version)
        .order_by("item_id")
        .values_list("item__payload__example_id", "value")
    )
    for example_id, value in rows.iterator(chunk_size=500):
        if example_id in out or not isinstance(value, dict) or "positions" not in value:
            continue
        out[example_id] = ModelTrajectory(
            np.asarray(value["positions"], dtype=np.float64), str(value.get("split", "test"))
        )
    return out
