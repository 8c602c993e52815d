"""Batch prediction from a checkpoint directory written by :func:`ml.humor.train.train`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ml.common import ProgressFn, autocast, load_checkpoint, report
from ml.common.checkpoint import read_config

from .model import EncoderHead, encoder_from_config_dir


@dataclass(frozen=True)
class HumorPrediction:
    p_humorous: float  # classifier probability; for the HS model a squashed distance to the cut
    hs: float | None  # predicted humor score (continuous model only)
    entropy: float  # binary entropy of p_humorous in bits, 0..1
    margin: float  # 1 − |p(top) − p(second)|, 0..1; higher = less sure

    @property
    def funny(self) -> bool:
        return self.p_humorous >= 0.5


def uncertainty(p: float) -> tuple[float, float]:
    """(entropy in bits, 1 − margin) of a two-class distribution (p, 1 − p)."""
    p = min(max(p, 1e-12), 1 - 1e-12)
    entropy = -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    return entropy, 1 - abs(2 * p - 1)


class Predictor:
    def __init__(self, directory: Path, device: torch.device):
        from transformers import AutoTokenizer

        directory = Path(directory)
        self.config = read_config(directory)
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(directory / "encoder", local_files_only=True)
        encoder = encoder_from_config_dir(directory / "encoder")
        self.model = EncoderHead(encoder, num_outputs=self.config["num_outputs"])
        load_checkpoint(directory, self.model, torch.device("cpu"))
        self.model.to(device).eval()
        self.max_length = self.config["train_config"]["max_length"]

    @torch.no_grad()
    def predict(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> list[HumorPrediction]:
        # Similar lengths in one batch waste less padding; the order is restored at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[HumorPrediction | None] = [None] * len(texts)
        binary = self.config["num_outputs"] == 2
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with autocast(self.device):
                raw = self.model(
                    batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)
                ).float()
            if binary:
                ps, hss = raw.softmax(-1)[:, 1].tolist(), [None] * len(index)
            else:
                hss = (raw * self.config["hs_std"] + self.config["hs_mean"]).tolist()
                # Distance to the cut in HS standard deviations, squashed to 0..1, so the
                # regressor gets an uncertainty on the same scale as the classifier.
                ps = [
                    1 / (1 + math.exp(-(h - self.config["threshold"]) / self.config["hs_std"]))
                    for h in hss
                ]
            for i, p, hs in zip(index, ps, hss, strict=True):
                entropy, margin = uncertainty(p)
                out[i] = HumorPrediction(p_humorous=p, hs=hs, entropy=entropy, margin=margin)
            report(progress, min(1.0, (start + len(index)) / max(len(order), 1)), "Predicting")
        return out  # type: ignore[return-value]


def predict(
    directory: Path, texts: Sequence[str], device: torch.device, **kwargs
) -> list[HumorPrediction]:
    return Predictor(directory, device).predict(texts, **kwargs)
