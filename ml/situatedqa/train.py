"""Train the temporal / geographic / neither classifier; score it on the official dev split.

``train(records, config, device, progress, out_dir) -> TrainResult`` learns from the
project's labelled questions plus (by default) the official id_data train questions (see
:mod:`ml.situatedqa.data` for how the two files become three classes), scores the dev
questions the run was not taught, and writes a self-describing checkpoint into ``out_dir``.

With the encoder frozen (the default) every question is embedded once and only the head
trains, so an epoch over the ~5,600 official questions takes well under a second after the
one encoding pass; ``finetune`` trains encoder and head together (the encoder at
``encoder_lr``), the same code on a CPU or a CUDA card (bf16 autocast there). The loss is
cross-entropy, each class weighted ``n / (3 · n_class)`` when ``class_weights`` is
"balanced". A run is deterministic for its seed on a given machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.common import ProgressFn, TrainingError, report, save_checkpoint, seed_everything
from ml.common.progress import scaled

from .config import ContextTrainConfig
from .data import DATA_DIR, LABELS, Example, training_set
from .metrics import context_metrics
from .model import EMBED_BATCH, Embedder, build_head, checkpoint_module

KIND = "situatedqa_context"

Logits = Callable[[list[int]], torch.Tensor]  # example indices -> (len, 3) logits


@dataclass
class TrainResult:
    artifact_dir: Path
    metrics: dict[str, Any]
    snapshot: dict[str, Any]  # counts the run saw (see ``data.training_set``)
    dev_predictions: list[dict[str, Any]]  # text, label, predicted, probabilities per dev question
    epoch_losses: list[float]  # mean training loss of each epoch (dropout on)
    timings: dict[str, float] = field(default_factory=dict)


def class_weights(examples: Sequence[Example], mode: str) -> torch.Tensor | None:
    """``n / (3 · n_class)`` per class ("balanced"; 0 for a class with no example), else None."""
    if mode != "balanced":
        return None
    counts = torch.bincount(torch.tensor([e.target for e in examples]), minlength=len(LABELS))
    weights = len(examples) / (len(LABELS) * counts.clamp(min=1).float())
    return torch.where(counts > 0, weights, torch.zeros_like(weights))


def _batches(n: int, size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator).tolist() if generator else list(range(n))
    for start in range(0, n, size):
        yield order[start : start + size]


def _frozen_logits(head: nn.Module, vectors: torch.Tensor, device: torch.device) -> Logits:
    vectors = vectors.to(device)
    return lambda index: head(vectors[index])


def _finetune_logits(head: nn.Module, embedder: Embedder, texts: Sequence[str]) -> Logits:
    return lambda index: head(embedder.pooled([texts[i] for i in index]))


@torch.no_grad()
def probabilities(logits: Logits, n: int, modules: Sequence[nn.Module]) -> torch.Tensor:
    """``(n, 3)`` class probabilities with dropout off, on the CPU."""
    for module in modules:
        module.eval()
    parts = [logits(index).float().softmax(-1).cpu() for index in _batches(n, EMBED_BATCH, None)]
    return torch.cat(parts) if parts else torch.empty(0, len(LABELS))


@torch.no_grad()
def mean_loss(logits: Logits, targets: torch.Tensor, loss_fn, modules) -> float:
    """The training objective over a whole set with dropout off (comparable across epochs)."""
    for module in modules:
        module.eval()
    total = 0.0
    for index in _batches(len(targets), EMBED_BATCH, None):
        total += float(loss_fn(logits(index).float(), targets[index])) * len(index)
    return total / max(len(targets), 1)


def train(
    records: Sequence[dict],
    config: ContextTrainConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
    *,
    embedder: Embedder | None = None,
    data_dir: Path = DATA_DIR,
) -> TrainResult:
    """Fit on the project's records (+ official train), evaluate on dev, write the checkpoint.

    ``records``: ``{"text": str, "label": "temporal" | "geographic" | "neither" | None}``
    (None: not labelled yet, skipped; other keys, such as ``item_id``, only name a record
    in error messages). ``embedder``: an :class:`Embedder` of the config's encoder and
    ``max_length``, on ``device``, to reuse with its cache (fine-tuning trains a copy of its
    encoder and leaves it as it was); None loads one.
    Raises ``TrainingError`` for a bad record or setting, naming it.
    """
    config = config.checked()
    if out_dir is None:
        raise TrainingError("train() needs an out_dir for the checkpoint.")
    data = training_set(
        records,
        official=config.official_data,
        max_official_rows=config.max_official_rows,
        max_dev_rows=config.max_dev_rows,
        seed=config.seed,
        data_dir=data_dir,
    )
    train_texts = [e.text for e in data.train]
    dev_texts = [e.text for e in data.dev]
    targets = torch.tensor([e.target for e in data.train], device=device)

    report(progress, 0.0, "Loading the text encoder")
    started = time.perf_counter()
    if embedder is not None and not embedder.fits(config.encoder, config.max_length, device):
        raise ValueError("The embedder given is not of the config's encoder, max_length, device.")
    if embedder is None:
        embedder = Embedder.load(config.encoder, device, max_length=config.max_length)
    if config.finetune:
        embedder = embedder.for_tuning()
    generator = seed_everything(config.seed)
    head = build_head(embedder.dim, config.hidden, config.dropout).to(device)
    if config.finetune:
        modules: list[nn.Module] = [head, embedder.model]
        train_logits = _finetune_logits(head, embedder, train_texts)
        dev_logits = _finetune_logits(head, embedder, dev_texts)
        parameters = [
            {"params": head.parameters(), "lr": config.lr},
            {"params": embedder.model.parameters(), "lr": config.encoder_lr},
        ]
        train_range = (0.05, 0.9)
    else:
        modules = [head]
        embedder.model.requires_grad_(False)
        encode = scaled(progress, 0.02, 0.5)
        vectors = embedder(train_texts + dev_texts, encode)
        train_logits = _frozen_logits(head, vectors[: len(train_texts)], device)
        dev_logits = _frozen_logits(head, vectors[len(train_texts) :], device)
        parameters = [{"params": head.parameters(), "lr": config.lr}]
        train_range = (0.5, 0.9)
    encode_seconds = time.perf_counter() - started

    weights = class_weights(data.train, config.class_weights)
    loss_fn = nn.CrossEntropyLoss(weight=None if weights is None else weights.to(device))
    optimizer = torch.optim.AdamW(parameters, weight_decay=config.weight_decay)
    initial_loss = mean_loss(train_logits, targets, loss_fn, modules)

    train_progress = scaled(progress, *train_range)
    total = -(-len(targets) // config.batch_size) * config.epochs
    step, history = 0, []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        for module in modules:
            module.train()
        running = 0.0
        for index in _batches(len(targets), config.batch_size, generator):
            loss = loss_fn(train_logits(index).float(), targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.finetune:
                nn.utils.clip_grad_norm_(embedder.model.parameters(), 1.0)
            optimizer.step()
            step += 1
            running += float(loss.item()) * len(index)
            report(
                train_progress,
                step / total,
                f"epoch {epoch + 1}/{config.epochs} · step {step}/{total} · loss {loss.item():.4f}",
            )
        history.append(running / len(targets))
    train_seconds = time.perf_counter() - started
    final_loss = mean_loss(train_logits, targets, loss_fn, modules)

    report(progress, 0.9, "Scoring the dev questions")
    probs = probabilities(dev_logits, len(dev_texts), modules)
    predicted = [LABELS[i] for i in probs.argmax(-1).tolist()]
    label_counts = data.label_counts()
    majority = max(LABELS, key=lambda label: (label_counts[label], -LABELS.index(label)))
    metrics = context_metrics([e.label for e in data.dev], predicted, majority=majority)
    metrics.update(
        n_train=len(data.train),
        initial_train_loss=initial_loss,
        final_train_loss=final_loss,
        finetuned=config.finetune,
    )
    dev_predictions = [
        {
            "text": e.text,
            "label": e.label,
            "predicted": p,
            "probabilities": dict(zip(LABELS, row, strict=True)),
        }
        for e, p, row in zip(data.dev, predicted, probs.tolist(), strict=True)
    ]

    save_checkpoint(
        out_dir,
        checkpoint_module(head, embedder.model if config.finetune else None),
        {
            "kind": KIND,
            "train_config": config.to_dict(),
            "labels": list(LABELS),
            "dim": embedder.dim,
            "finetuned": config.finetune,
            "encoder_source": embedder.source,
        },
    )
    if config.finetune:
        # The tuned encoder's shape and tokenizer travel with its weights.
        embedder.save(out_dir / "encoder")
    report(progress, 1.0, "Trained")
    return TrainResult(
        out_dir,
        metrics,
        {"counts": data.counts},
        dev_predictions,
        history,
        {"encode_seconds": encode_seconds, "train_seconds": train_seconds},
    )
