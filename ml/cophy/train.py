"""Train the state-based CoPhyNet on CoPhy examples; score it against the copy baselines.

``train(records, config, device, progress, out_dir) -> TrainResult`` fits one network per
scenario in ``records`` (:class:`~ml.cophy.model.CoPhyModels`), holds out
a seeded share of each (scenario, object count) group, and writes a self-describing
checkpoint into ``out_dir`` that :mod:`ml.cophy.predict` needs nothing else to use.

Loss (PROTOCOLS.md §3.4): ``BCE(is-moving logits, labels) + pose_weight · masked MSE`` over
D's t = 1..T−1, both averaged over present objects, the MSE over the scenario's scored
coordinates (x, y, z; x, y for balls).

Metrics, per scenario, on the held-out scenes: the model's trajectory MSE next to Copy C's
and Copy B's on the same scenes, the per-step stability accuracy of the gate, and the
accuracy of "will it move" (per object) and "will the tower fall" read off the predicted
trajectory: the questions the human study asks. With both tower sizes present, a second
model trained on the 3-block training towers only is tested on every 4-block tower (the
paper's cross-count generalisation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ml.common import ProgressFn, TrainingError, autocast, report, save_checkpoint, seed_everything
from ml.common.progress import scaled

from .baselines import baseline_mse
from .config import CophyTrainConfig
from .data import Batch, Record, as_items, batches, split_items
from .layout import SCENARIOS, Example
from .metrics import (
    is_moving,
    mean_mse,
    stability_accuracy,
    tower_falls,
    will_move,
)
from .model import CoPhyModels, CoPhyNet, parameter_count
from .predict import KIND, build_model, prediction_of, run_model


@dataclass
class TrainResult:
    artifact_dir: Path
    metrics: dict[str, Any]
    snapshot: dict[str, Any]  # example ids and counts the run saw
    epoch_losses: list[float]  # mean training loss of each epoch
    timings: dict[str, float] = field(default_factory=dict)


def loss_of(model: CoPhyNet, batch: Batch, pose_weight: float) -> torch.Tensor:
    positions, logits = model(
        batch.ab, batch.present_ab, batch.c, batch.present_cd, batch.kind, batch.steps
    )
    mask = batch.present_cd[:, None, :]  # (B, 1, K)
    per_example = mask.sum((1, 2)) * batch.steps  # present objects × steps
    bce = F.binary_cross_entropy_with_logits(logits.float(), batch.moving, reduction="none")
    squared = ((positions.float() - batch.target) ** 2 * batch.dims).sum(-1) / batch.dims.sum()
    bce_each = (bce * mask).sum((1, 2)) / per_example
    mse_each = (squared * mask).sum((1, 2)) / per_example  # the metric's per-example MSE
    return (bce_each + pose_weight * mse_each).mean()


def _fit(
    examples: Sequence[Example],
    config: CophyTrainConfig,
    device: torch.device,
    progress: ProgressFn | None,
    what: str,
) -> tuple[CoPhyModels, list[float], float, float]:
    """One network per scenario present, trained one after the other."""
    generator = seed_everything(config.seed)
    by_scenario = {s: [e for e in examples if e.scenario == s] for s in SCENARIOS}
    by_scenario = {s: members for s, members in by_scenario.items() if members}
    models = build_model(config, list(by_scenario)).to(device)
    initial = _mean_loss(models, examples, config, device)
    total = config.epochs * sum(len(batches(m, config.batch_size)) for m in by_scenario.values())
    step = 0
    history = [0.0] * config.epochs
    for scenario, members in by_scenario.items():
        net = models.net(scenario)
        optimizer = torch.optim.AdamW(
            net.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        # Cosine decay to zero: the autoregressive rollouts make late steps at the full rate
        # jump between solutions (a balls run ended at 5x the MSE it had reached mid-way).
        n_steps = config.epochs * len(batches(members, config.batch_size))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=n_steps)
        for epoch in range(config.epochs):
            net.train()
            for batch in batches(members, config.batch_size, generator):
                batch = batch.to(device)
                with autocast(device):
                    loss = loss_of(net, batch, config.pose_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                step += 1
                history[epoch] += float(loss.item()) * len(batch.ids) / len(examples)
                report(
                    progress,
                    step / total,
                    f"{what}, {scenario}: epoch {epoch + 1}/{config.epochs} · "
                    f"step {step}/{total} · loss {loss.item():.4f}",
                )
    return models, history, initial, _mean_loss(models, examples, config, device)


@torch.no_grad()
def _mean_loss(model, examples, config, device) -> float:
    model.eval()
    total = 0.0
    for batch in batches(examples, max(config.batch_size, 32)):
        batch = batch.to(device)
        with autocast(device):
            loss = loss_of(model.net(batch.scenario), batch, config.pose_weight)
        total += float(loss) * len(batch.ids)
    return total / max(len(examples), 1)


def score(model: CoPhyModels, examples: Sequence[Example], device: torch.device) -> dict[str, Any]:
    """Per-scenario metrics of ``model`` and the copy baselines on ``examples``."""
    examples = [e for e in examples if e.scenario in model.scenarios]
    raw = run_model(model, examples, device)
    out: dict[str, Any] = {}
    for scenario in SCENARIOS:
        members = [e for e in examples if e.scenario == scenario]
        if not members:
            continue
        predictions = [prediction_of(e, *raw[e.example_id]) for e in members]
        moving_truth = np.concatenate([is_moving(e.cd, scenario)[1:].ravel() for e in members])
        moving_guess = np.concatenate([p.moving_probability.ravel() for p in predictions])
        present = np.concatenate(
            [np.broadcast_to(e.presence_cd, (e.T - 1, e.K)).ravel() for e in members]
        )
        move_truth = np.concatenate([will_move(e.cd, scenario) for e in members])
        move_guess = np.concatenate([p.will_move for p in predictions])
        move_mask = np.concatenate([e.presence_cd for e in members])
        metrics: dict[str, Any] = {
            "n": len(members),
            "mse": mean_mse([p.positions for p in predictions], members),
            **baseline_mse(members),
            "stability_accuracy": stability_accuracy(moving_guess, moving_truth, present),
            "will_move_accuracy": stability_accuracy(move_guess, move_truth, move_mask),
        }
        if scenario == "blocktower":
            metrics["tower_falls_accuracy"] = float(
                np.mean(
                    [
                        p.tower_falls == tower_falls(e.cd)
                        for p, e in zip(predictions, members, strict=True)
                    ]
                )
            )
        out[scenario] = metrics
    return out


def _cross_count(
    train_set: Sequence[Example],
    everything: Sequence[Example],
    config: CophyTrainConfig,
    device: torch.device,
    progress: ProgressFn | None,
) -> dict[str, Any] | None:
    three = [e for e in train_set if e.scenario == "blocktower" and e.n_objects == 3]
    four = [e for e in everything if e.scenario == "blocktower" and e.n_objects == 4]
    if not three or not four:
        return None
    model, _, _, _ = _fit(three, config, device, progress, "3-block towers")
    scored = score(model, four, device)["blocktower"]
    return {
        "train_blocks": 3,
        "test_blocks": 4,
        "n_train": len(three),
        "n_test": len(four),
        **scored,
    }


def train(
    records: Sequence[Record],
    config: CophyTrainConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
) -> TrainResult:
    """Fit on the training scenes, score on the held-out ones; see the module docstring."""
    config = config.checked()
    if out_dir is None:
        raise TrainingError("train() needs an out_dir for the checkpoint.")
    items = as_items(records)
    train_set, held_out = split_items(items, val_fraction=config.val_fraction, seed=config.seed)
    if config.max_examples is not None and len(train_set) > config.max_examples:
        # Every scenario keeps at least one scene: a network per scenario is trained, and a
        # scenario left out here would have no network to score or predict its scenes.
        rng = np.random.default_rng(config.seed)
        order = rng.permutation(len(train_set)).tolist()
        first: dict[str, int] = {}
        for i in order:
            first.setdefault(train_set[i].scenario, i)
        rest = [i for i in order if i not in first.values()]
        room = max(config.max_examples - len(first), 0)
        keep = sorted([*first.values(), *rest[:room]])
        train_set = [train_set[i] for i in keep]
    if not train_set:
        raise TrainingError(f"No scenes to learn from among the {len(items)} records.")

    sizes = {e.n_objects for e in [*train_set, *held_out] if e.scenario == "blocktower"}
    cross = config.cross_count and {3, 4} <= sizes
    main_share = 0.6 if cross else 0.95
    started = time.perf_counter()
    model, history, initial, final = _fit(
        train_set, config, device, scaled(progress, 0.0, main_share), "all scenes"
    )
    train_seconds = time.perf_counter() - started

    report(progress, main_share, "Scoring on the held-out scenes")
    metrics: dict[str, Any] = {
        "scenarios": score(model, held_out, device) if held_out else {},
        "train_scenarios": score(model, train_set, device),
        "n_train": len(train_set),
        "n_held_out": len(held_out),
        "initial_train_loss": initial,
        "final_train_loss": final,
        "parameters": parameter_count(model),
        "device": device.type,
    }
    per = metrics["scenarios"].values()
    n_scored = sum(m["n"] for m in per)
    metrics["held_out_mse"] = sum(m["n"] * m["mse"] for m in per) / n_scored if n_scored else None
    metrics["cross_count"] = (
        _cross_count(
            train_set, [*train_set, *held_out], config, device, scaled(progress, main_share, 0.95)
        )
        if cross
        else None
    )

    save_checkpoint(
        out_dir,
        model,
        {"kind": KIND, "train_config": config.to_dict(), "scenarios": model.scenarios},
    )
    snapshot = {
        "train_ids": sorted(e.example_id for e in train_set),
        "held_out_ids": sorted(e.example_id for e in held_out),
        "counts": {
            "records": len(items),
            "train": len(train_set),
            "held_out": len(held_out),
            "scenarios": {s: sum(e.scenario == s for e in train_set) for s in SCENARIOS},
        },
    }
    report(progress, 1.0, "Trained")
    return TrainResult(out_dir, metrics, snapshot, history, {"train_seconds": train_seconds})
