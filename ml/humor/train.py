"""Fine-tune a text encoder on humor labels: a classifier (binary) or an HS regressor.

``train(records, config, device, progress, out_dir) -> TrainResult`` writes a self-describing
checkpoint into ``out_dir`` (weights, config, the encoder's config and tokenizer) so that
:mod:`ml.humor.predict` needs nothing but that directory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.common import (
    ProgressFn,
    TrainingError,
    autocast,
    load_encoder,
    report,
    resolve_encoder,
    save_checkpoint,
    seed_everything,
)
from ml.common.progress import scaled

from .config import HumorTrainConfig
from .data import Example, HumorRecord, cap, split_records, to_examples
from .metrics import binary_metrics, hs_threshold, regression_metrics
from .model import EncoderHead


@dataclass
class TrainResult:
    artifact_dir: Path
    metrics: dict[str, Any]
    snapshot: dict[str, Any]  # item ids and counts the run saw
    timings: dict[str, float] = field(default_factory=dict)


def _batches(examples: Sequence[Example], size: int, generator: torch.Generator | None):
    order = (
        torch.randperm(len(examples), generator=generator).tolist()
        if generator is not None
        else list(range(len(examples)))
    )
    for start in range(0, len(order), size):
        yield [examples[i] for i in order[start : start + size]]


def _encode(tokenizer, texts: list[str], max_length: int, device: torch.device):
    batch = tokenizer(
        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    return batch["input_ids"].to(device), batch["attention_mask"].to(device)


@torch.no_grad()
def _scores(model, tokenizer, examples, config, device) -> list[float]:
    """Raw outputs: P(humorous) for the classifier, predicted HS for the regressor."""
    model.eval()
    out: list[float] = []
    for batch in _batches(examples, max(config.batch_size, 64), None):
        ids, mask = _encode(tokenizer, [e.text for e in batch], config.max_length, device)
        with autocast(device):
            raw = model(ids, mask).float()
        out.extend(raw.softmax(-1)[:, 1].tolist() if config.target == "binary" else raw.tolist())
    return out


def train(
    records: Sequence[HumorRecord | dict],
    config: HumorTrainConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
) -> TrainResult:
    """Fine-tune on the train split, evaluate on the test split, write the checkpoint."""
    from transformers import get_linear_schedule_with_warmup

    config = config.checked()
    if out_dir is None:
        raise TrainingError("train() needs an out_dir for the checkpoint.")
    records = [r if isinstance(r, HumorRecord) else HumorRecord.from_mapping(r) for r in records]
    train_records, test_records = split_records(
        records, test_fraction=config.test_fraction, seed=config.seed
    )
    train_set = cap(
        to_examples(train_records, target=config.target, label_source=config.label_source),
        config.max_samples,
        config.seed,
    )
    test_set = to_examples(test_records, target=config.target, label_source=config.label_source)
    if not train_set:
        what = "an HS score" if config.target == "continuous" else f"a {config.label_source} label"
        raise TrainingError(
            f"Empty training set: none of the {len(train_records)} posts in the train split "
            f"has {what}."
        )

    report(progress, 0.0, "Loading the text encoder")
    generator = seed_everything(config.seed)
    tokenizer, encoder = load_encoder(config.encoder)
    torch.manual_seed(config.seed)  # the head's initialisation, after the encoder's load
    model = EncoderHead(encoder, num_outputs=2 if config.target == "binary" else 1).to(device)

    hs_values = [e.target for e in train_set] if config.target == "continuous" else []
    hs_mean = float(sum(hs_values) / len(hs_values)) if hs_values else 0.0
    hs_std = float(torch.tensor(hs_values).std().item()) if len(hs_values) > 1 else 1.0
    hs_std = hs_std if hs_std > 1e-8 else 1.0
    threshold = (
        hs_threshold(hs_values, [e.label for e in train_set])
        if config.target == "continuous"
        else 0.5
    )

    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * config.warmup_ratio), total)
    loss_fn = nn.CrossEntropyLoss() if config.target == "binary" else nn.MSELoss()
    train_progress = scaled(progress, 0.05, 0.9)

    started = time.perf_counter()
    step = 0
    last_loss = float("nan")
    for epoch in range(config.epochs):
        model.train()
        for batch in _batches(train_set, config.batch_size, generator):
            ids, mask = _encode(tokenizer, [e.text for e in batch], config.max_length, device)
            with autocast(device):
                out = model(ids, mask)
            if config.target == "binary":
                target = torch.tensor([int(e.target) for e in batch], device=device)
                loss = loss_fn(out.float(), target)
            else:
                target = torch.tensor([(e.target - hs_mean) / hs_std for e in batch], device=device)
                loss = loss_fn(out.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            last_loss = float(loss.item())
            report(
                train_progress,
                step / total,
                f"epoch {epoch + 1}/{config.epochs} · step {step}/{total} · loss {last_loss:.4f}",
            )
    train_seconds = time.perf_counter() - started

    report(progress, 0.9, "Evaluating on the test split")
    raw = _scores(model, tokenizer, test_set, config, device)
    labelled = [(e.label, s, e) for e, s in zip(test_set, raw, strict=True) if e.label is not None]
    if config.target == "binary":
        metrics = binary_metrics([y for y, _, _ in labelled], [s for _, s, _ in labelled], 0.5)
    else:
        predicted_hs = [s * hs_std + hs_mean for s in raw]
        by_id = dict(zip((e.item_id for e in test_set), predicted_hs, strict=True))
        metrics = binary_metrics(
            [y for y, _, _ in labelled], [by_id[e.item_id] for _, _, e in labelled], threshold
        )
        metrics.update(regression_metrics([e.target for e in test_set], predicted_hs))
        metrics["threshold_hs"] = threshold
    metrics.update(
        n_train=len(train_set),
        final_train_loss=last_loss,
        train_samples_per_second=len(train_set) * config.epochs / max(train_seconds, 1e-9),
    )

    checkpoint_config = {
        "kind": "humor",
        "train_config": config.to_dict(),
        "encoder_source": resolve_encoder(config.encoder),
        "num_outputs": 2 if config.target == "binary" else 1,
        "hs_mean": hs_mean,
        "hs_std": hs_std,
        "threshold": threshold,
    }
    save_checkpoint(out_dir, model, checkpoint_config)
    # The encoder's shape and tokenizer travel with the weights: predicting needs only out_dir.
    encoder.config.save_pretrained(out_dir / "encoder")
    tokenizer.save_pretrained(out_dir / "encoder")

    snapshot = {
        "train_ids": sorted(e.item_id for e in train_set),
        "test_ids": sorted(e.item_id for e in test_set),
        "counts": {
            "records": len(records),
            "train_split": len(train_records),
            "test_split": len(test_records),
            "train_examples": len(train_set),
            "test_examples": len(test_set),
            "train_positive": sum(1 for e in train_set if e.label == 1),
        },
    }
    report(progress, 1.0, "Trained")
    return TrainResult(out_dir, metrics, snapshot, {"train_seconds": train_seconds})
