"""The trainer registry: how a task type's model is trained and what its predictions mean.

A task app registers its ``Trainer`` in its ``AppConfig.ready()`` (``apps/humor/trainer.py``);
the model loop asks ``get(project.task_type)`` and never names a task type. The trainer's
frozen dataclass ``Config`` (``ml.config.Config``) is the single description of its settings:
the Train form, the train API's input and the run itself are all built from it. A trainer
imports the torch parts of ``ml/`` lazily, so a web process showing the Models tab never loads
torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from apps.core.models import Item, Project
from ml import config as ml_config


@dataclass(frozen=True)
class PredictionRow:
    item_id: int
    value: dict  # the task type's answer shape plus model fields (probabilities, scores)
    uncertainty: float  # higher = less sure; the trainer's own scale


@dataclass
class TrainOutcome:
    metrics: dict[str, Any]
    config: dict[str, Any]  # the full config the run used (defaults filled in)
    seed: int
    snapshot: dict[str, Any]  # counts the run saw (train/test sizes, label counts)


@dataclass(frozen=True)
class ActiveLearningMode:
    key: str
    title: str


UNCERTAINTY = ActiveLearningMode("uncertainty", "Most uncertain first")


class Trainer:
    """One task type's model. Subclasses fill in the hooks; ``apps.training.services`` drives."""

    key: ClassVar[str]  # the task type's key
    title: ClassVar[str]
    Config: ClassVar[type[ml_config.Config]]
    # The Models table's metric columns: (metric key, label), in order. Every trainer reports
    # ``n_train`` and ``n_test`` too: the Models tab warns when they are too few to trust.
    metrics: ClassVar[list[tuple[str, str]]] = []
    # One plain-text line per metric key saying what it measures, shown under the table.
    metric_help: ClassVar[dict[str, str]] = {}
    # Settings that train for a few steps on a CPU: the shared contract suite uses them.
    smoke_config: ClassVar[dict[str, Any]] = {}
    # Config fields shown as columns of the Models table, beside the metrics.
    summary_fields: ClassVar[list[str]] = []
    # Orders beside "off" the trainer can give unanswered items (see ``priority``).
    active_learning: ClassVar[list[ActiveLearningMode]] = [UNCERTAINTY]

    def records(self, project: Project, config: Any) -> list[dict]:
        """The project's items as plain JSON records ``ml/`` trains on (no Django objects).

        Each record has ``item_id``; the list is hashed and stored with the version, so it
        must hold every label the run uses (not look them up later).
        """
        raise NotImplementedError

    def train(
        self, records: Sequence[dict], config: Any, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        raise NotImplementedError

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        raise NotImplementedError

    def priority(self, mode: str, item: Item, value: dict, uncertainty: float) -> float:
        """An unanswered item's model priority under active-learning ``mode`` (higher first)."""
        return uncertainty

    def prefill_value(self, prediction_value: dict) -> dict | None:
        """The answer to pre-select for an annotator, in the task type's Answer shape."""
        return None

    # ``evaluate(records, predictions) -> metrics`` scores predictions the platform did not
    # make (uploaded by a researcher); a trainer that offers it defines it.
    evaluate: ClassVar[Callable[..., dict[str, Any]] | None] = None


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
