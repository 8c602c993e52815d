"""Predict D from a checkpoint written by :func:`ml.cophy.train.train`.

For every record, :class:`CophyPrediction` holds the predicted positions of D (t = 1..T−1,
every slot; absent slots stay at zero), the per-step "is moving" probability, and the answers
the human study asks for: will each object move, will the tower fall. ``to_dict()`` is JSON for the app's replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ml.common import ProgressFn, autocast, load_checkpoint, report
from ml.common.checkpoint import read_config

from .config import CophyTrainConfig
from .data import Record, as_items, batches
from .layout import Example
from .model import CoPhyModels

KIND = "cophy"


@dataclass(frozen=True)
class CophyPrediction:
    example_id: str
    scenario: str
    positions: np.ndarray  # (T−1, K, 3)
    moving_probability: np.ndarray  # (T−1, K)
    will_move: list[bool]  # per slot (False for absent slots)
    tower_falls: bool | None  # towers only

    def to_dict(self) -> dict:
        return {
            "example_id": self.example_id,
            "scenario": self.scenario,
            "positions": np.round(self.positions.astype(np.float64), 4).tolist(),
            "moving_probability": np.round(self.moving_probability.astype(np.float64), 3).tolist(),
            "will_move": self.will_move,
            "tower_falls": self.tower_falls,
        }


def build_model(config: CophyTrainConfig, scenarios: Sequence[str]) -> CoPhyModels:
    return CoPhyModels(scenarios, hidden=config.hidden)


@torch.no_grad()
def run_model(
    models: CoPhyModels, examples: Sequence[Example], device: torch.device, batch_size: int = 32
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """example id → (positions (T−1, K, 3), moving probabilities (T−1, K)), eval mode."""
    models.eval()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for batch in batches(examples, batch_size):
        batch = batch.to(device)
        with autocast(device):
            positions, logits = models.net(batch.scenario)(
                batch.ab, batch.present_ab, batch.c, batch.present_cd, batch.kind, batch.steps
            )
        mask = batch.present_cd[:, None, :, None]
        positions = (positions.float() * mask).cpu().numpy()
        probability = (torch.sigmoid(logits.float()) * batch.present_cd[:, None, :]).cpu().numpy()
        for i, example_id in enumerate(batch.ids):
            out[example_id] = (positions[i], probability[i])
    return out


def prediction_of(example: Example, positions: np.ndarray, probability: np.ndarray):
    """The answers come from the stability head, CoPhyNet's explicit "is moving" estimate: an
    object will move when some step's probability passes ½, a tower falls when one of its
    blocks will move. (Reading them off the predicted positions instead would count the
    small drifts of a soft gate as movement.)"""
    present = example.presence_cd > 0
    moves = (probability.max(0) > 0.5) & present
    falls = bool(moves.any()) if example.scenario == "blocktower" else None
    return CophyPrediction(
        example_id=example.example_id,
        scenario=example.scenario,
        positions=positions,
        moving_probability=probability,
        will_move=moves.tolist(),
        tower_falls=falls,
    )


class Predictor:
    def __init__(self, directory: Path, device: torch.device):
        directory = Path(directory)
        checkpoint = read_config(directory)
        if checkpoint.get("kind") != KIND:
            raise ValueError(f"{directory} holds a {checkpoint.get('kind')!r} model, not CoPhy.")
        self.config = CophyTrainConfig.from_dict(checkpoint["train_config"])
        self.device = device
        self.model = build_model(self.config, checkpoint["scenarios"])
        load_checkpoint(directory, self.model, torch.device("cpu"))
        self.model.to(device).eval()

    def predict(
        self,
        records: Sequence[Record],
        progress: ProgressFn | None = None,
        batch_size: int = 32,
    ) -> list[CophyPrediction]:
        """One prediction per record, in order."""
        examples = [item.example for item in as_items(records)]
        for example in examples:
            self.model.net(example.scenario)  # refuse a scenario it was not trained on, first
        out: list[CophyPrediction] = []
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            raw = run_model(self.model, chunk, self.device, batch_size)
            out.extend(prediction_of(e, *raw[e.example_id]) for e in chunk)
            report(progress, (start + len(chunk)) / len(examples), "Predicting trajectories")
        return out


def predict(
    directory: Path, records: Sequence[Record], device: torch.device, **kwargs
) -> list[CophyPrediction]:
    return Predictor(directory, device).predict(records, **kwargs)
