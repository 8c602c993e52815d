"""Train the MOS predictor on rated clips; score it on held-out utterances.

``train(records, config, device, progress, out_dir, opener) -> TrainResult`` writes a
self-describing checkpoint into ``out_dir`` (weights with the feature standardisation, and
the config, feature spec and scale that built them), so :mod:`ml.mos.predict` needs nothing
but that directory.

The loss is MOSNet's: the squared error of the clip score plus ``frame_weight`` times the mean
squared error of every real frame's score, both against the clip's mean vote.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ml.common import ProgressFn, TrainingError, report, save_checkpoint, seed_everything
from ml.common.progress import scaled

from .config import MosTrainConfig
from .data import (
    AudioOpener,
    Featurizer,
    MosRecord,
    as_records,
    cap,
    feature_stats,
    open_path,
    pad_batch,
    split_by_utterance,
)
from .features import FeatureSpec
from .metrics import mos_metrics
from .model import MosNet, parameter_count

MOS_RANGE = (1.0, 5.0)  # the ACR scale; predictions are clipped to it


@dataclass
class TrainResult:
    artifact_dir: Path
    metrics: dict[str, Any]
    snapshot: dict[str, Any]  # item ids and counts the run saw
    test_predictions: list[dict[str, Any]]  # item_id, system, mos, predicted_mos per test clip
    epoch_losses: list[float]  # mean training loss of each epoch (dropout on)
    timings: dict[str, float] = field(default_factory=dict)


def feature_spec(config: MosTrainConfig) -> FeatureSpec:
    return FeatureSpec(n_mels=config.n_mels)


def build_model(config: MosTrainConfig) -> MosNet:
    return MosNet(config.n_mels, config.channels, config.hidden, config.dropout)


def loss_of(
    model: MosNet, frames: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, alpha: float
) -> torch.Tensor:
    clip, scores = model(frames, mask)
    weights = mask.to(scores.dtype)
    frame_error = ((scores - target[:, None]) ** 2 * weights).sum(1) / weights.sum(1).clamp(min=1.0)
    return ((clip - target) ** 2 + alpha * frame_error).mean()


def _batches(n: int, size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator).tolist() if generator else list(range(n))
    for start in range(0, n, size):
        yield order[start : start + size]


def _on(device: torch.device, features: Sequence[torch.Tensor], index: list[int]):
    frames, mask = pad_batch([features[i] for i in index])
    return frames.to(device), mask.to(device)


@torch.no_grad()
def mean_loss(model, features, targets, config, device) -> float:
    """The training objective over a whole set with dropout off (comparable across epochs)."""
    model.eval()
    total = 0.0
    for index in _batches(len(features), max(config.batch_size, 32), None):
        frames, mask = _on(device, features, index)
        target = torch.tensor([targets[i] for i in index], device=device)
        total += float(loss_of(model, frames, mask, target, config.frame_weight)) * len(index)
    return total / max(len(features), 1)


@torch.no_grad()
def clip_scores(model, features, device, batch_size: int = 32) -> list[float]:
    """Deterministic (dropout off) clip MOS, clipped to the scale."""
    model.eval()
    out: list[float] = []
    for index in _batches(len(features), batch_size, None):
        frames, mask = _on(device, features, index)
        out.extend(model(frames, mask)[0].clamp(*MOS_RANGE).float().tolist())
    return out


def _featurize(featurizer, records: Sequence[MosRecord], progress, what: str):
    features = []
    for i, record in enumerate(records):
        features.append(featurizer(record))
        report(progress, (i + 1) / max(len(records), 1), f"Computing log-mels of the {what}")
    return features


def train(
    records: Sequence[MosRecord | dict],
    config: MosTrainConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
    opener: AudioOpener = open_path,
) -> TrainResult:
    """Fit on the rated clips of the training utterances, evaluate on the held-out ones."""
    config = config.checked()
    if out_dir is None:
        raise TrainingError("train() needs an out_dir for the checkpoint.")
    records = as_records(records)
    train_records, test_records = split_by_utterance(
        records, test_fraction=config.test_fraction, seed=config.seed
    )
    train_records = cap(train_records, config.max_samples, config.seed)
    if not train_records:
        raise TrainingError(
            f"No rated clips to learn from: none of the {len(records)} clips has a vote yet."
        )

    spec = feature_spec(config)
    featurizer = Featurizer(spec, config.max_seconds, opener)
    started = time.perf_counter()
    train_features = _featurize(featurizer, train_records, scaled(progress, 0.0, 0.1), "clips")
    test_features = _featurize(featurizer, test_records, scaled(progress, 0.1, 0.15), "test set")
    feature_seconds = time.perf_counter() - started

    generator = seed_everything(config.seed)
    targets = [r.mos for r in train_records]
    model = build_model(config)
    mean, std = feature_stats(train_features)
    model.set_normalisation(mean, std, float(sum(targets) / len(targets)))
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    initial_loss = mean_loss(model, train_features, targets, config, device)

    train_progress = scaled(progress, 0.15, 0.9)
    steps_per_epoch = -(-len(train_features) // config.batch_size)
    total = steps_per_epoch * config.epochs
    step = 0
    history: list[float] = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        running = 0.0
        for index in _batches(len(train_features), config.batch_size, generator):
            frames, mask = _on(device, train_features, index)
            target = torch.tensor([targets[i] for i in index], device=device)
            loss = loss_of(model, frames, mask, target, config.frame_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            running += float(loss.item()) * len(index)
            report(
                train_progress,
                step / total,
                f"epoch {epoch + 1}/{config.epochs} · step {step}/{total} · loss {loss.item():.4f}",
            )
        history.append(running / len(train_features))
    train_seconds = time.perf_counter() - started
    final_loss = mean_loss(model, train_features, targets, config, device)

    report(progress, 0.9, "Evaluating on the held-out utterances")
    predicted = clip_scores(model, test_features, device)
    test_predictions = [
        {"item_id": r.item_id, "system": r.system, "mos": r.mos, "predicted_mos": p}
        for r, p in zip(test_records, predicted, strict=True)
    ]
    metrics = mos_metrics(
        [r.system for r in test_records], [r.mos for r in test_records], predicted
    )
    metrics.update(
        n_train=len(train_records),
        initial_train_loss=initial_loss,
        final_train_loss=final_loss,
        parameters=parameter_count(model),
    )

    save_checkpoint(
        out_dir,
        model,
        {
            "kind": "mos",
            "train_config": config.to_dict(),
            "features": spec.to_dict(),
            "mos_range": list(MOS_RANGE),
        },
    )
    snapshot = {
        "train_ids": sorted(r.item_id for r in train_records),
        "test_ids": sorted(r.item_id for r in test_records),
        "counts": {
            "records": len(records),
            "rated": sum(1 for r in records if r.mos is not None),
            "train_clips": len(train_records),
            "test_clips": len(test_records),
            "train_utterances": len({r.utterance_id for r in train_records}),
            "test_utterances": len({r.utterance_id for r in test_records}),
            "systems": len({r.system for r in records}),
        },
    }
    report(progress, 1.0, "Trained")
    return TrainResult(
        out_dir,
        metrics,
        snapshot,
        test_predictions,
        history,
        {"feature_seconds": feature_seconds, "train_seconds": train_seconds},
    )
