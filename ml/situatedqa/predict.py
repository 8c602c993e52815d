"""Class probabilities and an uncertainty per question, from a checkpoint written by ``train``.

**Uncertainty** is the entropy of the three probabilities divided by ``ln 3``: 0 when the
model puts all its mass on one class, 1 when it spreads it evenly. Ordering stage-1 items
"uncertain first" is sorting by it, highest first (:func:`uncertain_first`); unlike
``1 − max p`` it also tells a question torn between two classes (0.5 / 0.5 / 0) from one
torn between all three. ``confidence`` is the top probability, for a reader who wants that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ml.common import ProgressFn, load_checkpoint, report
from ml.common.checkpoint import read_config

from .config import ContextTrainConfig
from .data import LABELS, prediction_texts
from .model import EMBED_BATCH, Embedder, build_head, checkpoint_module
from .train import KIND


@dataclass(frozen=True)
class ContextPrediction:
    key: Any  # the record's "key" as given, else its "item_id", else None
    label: str  # the most probable of LABELS
    probabilities: dict[str, float]  # one per label, summing to 1
    uncertainty: float  # entropy / ln 3, 0..1; higher = less sure
    confidence: float  # the top probability


def normalised_entropy(probabilities: Sequence[float]) -> float:
    """``−Σ p ln p / ln k`` over the ``k`` classes (0 ln 0 = 0), clipped to 0..1."""
    entropy = -sum(p * math.log(p) for p in probabilities if p > 0)
    return min(1.0, max(0.0, entropy / math.log(len(probabilities))))


def uncertain_first(predictions: Sequence[ContextPrediction]) -> list[ContextPrediction]:
    """The predictions with the least sure first (ties keep their order)."""
    return sorted(predictions, key=lambda p: -p.uncertainty)


class Predictor:
    def __init__(self, directory: Path, device: torch.device, *, embedder: Embedder | None = None):
        """Load a checkpoint; ``embedder`` (frozen models only) reuses a loaded encoder."""
        directory = Path(directory)
        checkpoint = read_config(directory)
        if checkpoint.get("kind") != KIND:
            raise ValueError(
                f"{directory} holds a {checkpoint.get('kind')!r} model, not a SituatedQA "
                "context classifier."
            )
        if checkpoint["labels"] != list(LABELS):
            raise ValueError(f"{directory} was trained for labels {checkpoint['labels']}.")
        self.config = ContextTrainConfig.from_dict(checkpoint["train_config"])
        self.device = device
        length = self.config.max_length
        if checkpoint["finetuned"]:
            self.embedder = Embedder.from_saved(directory / "encoder", device, max_length=length)
        elif embedder is not None and embedder.fits(self.config.encoder, length, device):
            self.embedder = embedder
        else:
            self.embedder = Embedder.load(self.config.encoder, device, max_length=length)
        self.head = build_head(checkpoint["dim"], self.config.hidden, self.config.dropout)
        module = checkpoint_module(
            self.head, self.embedder.model if checkpoint["finetuned"] else None
        )
        load_checkpoint(directory, module, torch.device("cpu"))
        self.head.to(device).eval()
        self.embedder.model.to(device).eval()

    @torch.no_grad()
    def predict(
        self, records: Sequence[Mapping[str, Any]], progress: ProgressFn | None = None
    ) -> list[ContextPrediction]:
        """One prediction per ``{"key", "text"}`` record, in order.

        The training records do too (``item_id`` then serves as the key; a ``label`` is
        ignored). A record without a non-empty ``text`` raises ``TrainingError`` naming it.
        """
        texts = prediction_texts(records)
        out: list[ContextPrediction] = []
        for start in range(0, len(texts), EMBED_BATCH):
            chunk = texts[start : start + EMBED_BATCH]
            vectors = self.embedder(chunk).to(self.device)
            probs = self.head(vectors).float().softmax(-1).cpu().tolist()
            for record, row in zip(records[start : start + len(chunk)], probs, strict=True):
                top = max(range(len(LABELS)), key=lambda i: row[i])
                out.append(
                    ContextPrediction(
                        key=record["key"] if "key" in record else record.get("item_id"),
                        label=LABELS[top],
                        probabilities=dict(zip(LABELS, row, strict=True)),
                        uncertainty=normalised_entropy(row),
                        confidence=row[top],
                    )
                )
            report(progress, (start + len(chunk)) / len(texts), "Classifying questions")
        return out


def predict(
    directory: Path, records: Sequence[Mapping[str, Any]], device: torch.device, **kwargs
) -> list[ContextPrediction]:
    return Predictor(directory, device).predict(records, **kwargs)
