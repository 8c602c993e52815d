"""Predict MOS, with an MC-dropout uncertainty, from a checkpoint written by :func:`train`.

The point estimate is the deterministic pass (dropout off), the same number the training
metrics scored. The uncertainty is the standard deviation of the clip score over
``mc_samples`` passes with dropout on (Gal & Ghahramani's MC dropout), seeded, so predicting
twice gives the same figures; it is in MOS points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ml.common import ProgressFn, load_checkpoint, report
from ml.common.checkpoint import read_config

from .config import MosTrainConfig
from .data import AudioOpener, Featurizer, MosRecord, as_records, open_path, pad_batch
from .features import FeatureSpec
from .train import build_model


@dataclass(frozen=True)
class MosPrediction:
    predicted_mos: float  # dropout off, clipped to the scale
    std: float  # spread over the MC-dropout passes (MOS points)
    mc_mean: float  # mean over the passes, for a reader who prefers the MC estimate


class Predictor:
    def __init__(self, directory: Path, device: torch.device):
        directory = Path(directory)
        checkpoint = read_config(directory)
        if checkpoint.get("kind") != "mos":
            raise ValueError(
                f"{directory} holds a {checkpoint.get('kind')!r} model, not a MOS one."
            )
        self.config = MosTrainConfig.from_dict(checkpoint["train_config"])
        self.spec = FeatureSpec.from_dict(checkpoint["features"])
        self.low, self.high = checkpoint["mos_range"]
        self.device = device
        self.model = build_model(self.config)
        load_checkpoint(directory, self.model, torch.device("cpu"))
        self.model.to(device).eval()

    @torch.no_grad()
    def _batch(self, features: list[torch.Tensor], mc: int) -> list[MosPrediction]:
        frames, mask = pad_batch(features)
        frames, mask = frames.to(self.device), mask.to(self.device)
        self.model.eval()
        point = self.model(frames, mask)[0].clamp(self.low, self.high)
        # Dropout on (the model has no batch norm, so train mode changes nothing else); all
        # passes in one forward, the batch repeated ``mc`` times.
        self.model.train()
        passes = self.model(frames.repeat(mc, 1, 1), mask.repeat(mc, 1))[0].view(mc, -1)
        self.model.eval()
        std = passes.std(0, unbiased=True)
        mean = passes.mean(0).clamp(self.low, self.high)
        return [
            MosPrediction(float(p), float(s), float(m))
            for p, s, m in zip(point.tolist(), std.tolist(), mean.tolist(), strict=True)
        ]

    def predict(
        self,
        records: Sequence[MosRecord | dict],
        opener: AudioOpener = open_path,
        progress: ProgressFn | None = None,
        batch_size: int = 16,
        mc_samples: int | None = None,
        seed: int | None = None,
    ) -> list[MosPrediction]:
        """One prediction per record, in order; unrated clips (new systems) as well."""
        records = as_records(records)
        featurizer = Featurizer(self.spec, self.config.max_seconds, opener)
        mc = mc_samples or self.config.mc_samples
        devices = [self.device] if self.device.type == "cuda" else []
        out: list[MosPrediction] = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.config.seed if seed is None else seed)
            for start in range(0, len(records), batch_size):
                chunk = records[start : start + batch_size]
                out.extend(self._batch([featurizer(r) for r in chunk], mc))
                report(progress, min(1.0, (start + len(chunk)) / len(records)), "Predicting MOS")
        return out


def predict(
    directory: Path, records: Sequence[MosRecord | dict], device: torch.device, **kwargs
) -> list[MosPrediction]:
    return Predictor(directory, device).predict(records, **kwargs)
