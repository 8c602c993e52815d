"""The trainer registry: how each task type's model is trained and what its predictions mean.

Keyed by task-type key, like the task-type registry; shared code asks ``get(project.task_type)``
and never names a task type. A trainer imports ``ml/`` lazily so the web process that only
shows the Models tab never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from apps.core.models import Item, Project


@dataclass(frozen=True)
class PredictionRow:
    item_id: int
    value: dict  # the task type's answer shape plus model fields
    score: float | None
    uncertainty: float  # entropy, 0..1
    margin: float  # 1 − top-two margin, 0..1


@dataclass
class TrainOutcome:
    metrics: dict[str, Any]
    snapshot: dict[str, Any]
    config: dict[str, Any]  # the full config the run used (defaults filled in)
    seed: int


class Trainer:
    """One task type's model. Subclasses fill in the hooks; the services drive them."""

    key: ClassVar[str]
    title: ClassVar[str]
    # Choices shown on the Train form's "target" field: (value, label).
    targets: ClassVar[list[tuple[str, str]]] = []

    def records(self, project: Project, config: dict) -> list[dict]:
        """The project's items as the plain records ``ml/`` trains on (no Django objects)."""
        raise NotImplementedError

    def train(
        self, records: Sequence[dict], config: dict, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        raise NotImplementedError

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        raise NotImplementedError

    def prefill_value(self, prediction_value: dict) -> dict | None:
        """The answer to pre-select for an annotator, in the task type's Answer shape."""
        return None

    def disagreement(self, item: Item, prediction_value: dict, score: float | None) -> float | None:
        """How far the model is from the item's reference label (0..1); None if there is none."""
        return None


_TRAINERS: dict[str, Trainer] = {}


class NoTrainer(LookupError):
    pass


def register(trainer: Trainer) -> None:
    _TRAINERS[trainer.key] = trainer


def get(key: str) -> Trainer:
    try:
        return _TRAINERS[key]
    except KeyError:
        raise NoTrainer(f"No model can be trained for task type {key!r} yet.") from None


def find(key: str) -> Trainer | None:
    return _TRAINERS.get(key)


def has(key: str) -> bool:
    return key in _TRAINERS
