"""The CoPhy trainer: a state-based CoPhyNet (``ml.cophy``) trained on the project's scenes.

A record is one scene, not one item: a scene is shown on one item per condition, and training
on it twice, or scoring a scene that was also trained on, would bias the numbers. The states
of both runs travel in the record (exact float32 values as JSON numbers), so the records file
stored with a version is enough to train it again. The model never sees the confounders.

A prediction is about the scene, so it is written onto each of its items: the predicted D
(positions t = 1…T−1), the study's answers read off it (will each block move, will the tower
fall; where the marked object ends), and whether the scene was in the model's training set
(the results page says how many of the scenes it compares on were).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from apps.core.models import Item, Project
from apps.training.trainers import UNCERTAINTY, PredictionRow, Trainer, TrainOutcome
from ml.config import TrainingError
from ml.cophy.config import CophyTrainConfig
from ml.cophy.layout import SCENARIOS, TITLES

from .models import Scene

SPLIT_FILE = "chorus_split.json"


def scene_records(project: Project) -> list[dict]:
    """One record per regular scene: its first item, all its items, both runs' states."""
    items: dict[str, list[int]] = {}
    rows = (
        Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
        .order_by("id")
        .values_list("id", "payload__example_id")
    )
    for item_id, example_id in rows.iterator(chunk_size=5000):
        items.setdefault(example_id, []).append(item_id)
    records = []
    for scene in Scene.objects.filter(project=project, gold=False).order_by("id"):
        ids = items.get(scene.example_id)
        if not ids:
            continue
        example = scene.example()
        records.append(
            {
                "item_id": ids[0],
                "item_ids": ids,
                "example_id": scene.example_id,
                "scenario": scene.scenario,
                "ab": example.ab.tolist(),
                "cd": example.cd.tolist(),
            }
        )
    return records


def _flat(metrics: dict) -> dict:
    """The Models table's columns from ``ml.cophy.train``'s nested metrics (kept as well)."""
    flat = {
        "held_out_mse": metrics.get("held_out_mse"),
        "n_train": metrics.get("n_train"),
        "n_test": metrics.get("n_held_out"),
    }
    for scenario, row in (metrics.get("scenarios") or {}).items():
        flat[f"mse_{scenario}"] = row.get("mse")
        flat[f"copy_c_{scenario}"] = row.get("copy_c")
        flat[f"copy_b_{scenario}"] = row.get("copy_b")
        flat[f"will_move_{scenario}"] = row.get("will_move_accuracy")
        if "tower_falls_accuracy" in row:
            flat[f"tower_falls_{scenario}"] = row["tower_falls_accuracy"]
    cross = metrics.get("cross_count")
    if cross:
        flat["cross_count_mse"] = cross.get("mse")
        flat["cross_count_copy_c"] = cross.get("copy_c")
    return {**metrics, **flat}


def _columns() -> list[tuple[str, str]]:
    """The Models table: the model's held-out MSE per scenario beside Copy C's on the same
    scenes. Copy B, the accuracies and the 3 → 4 blocks test stay in the version's metrics."""
    columns = [("held_out_mse", "MSE (held out)")]
    for scenario in SCENARIOS:
        title = TITLES[scenario]
        columns += [
            (f"mse_{scenario}", f"MSE: {title}"),
            (f"copy_c_{scenario}", f"Copy C: {title}"),
        ]
    columns += [("n_train", "Training scenes"), ("n_test", "Held-out scenes")]
    return columns


class CophyTrainer(Trainer):
    key = "cophy"
    title = "CoPhyNet-style counterfactual dynamics (graph network, GRU confounders)"
    Config = CophyTrainConfig
    metrics = _columns()
    metric_help = {
        "held_out_mse": "CoPhy's trajectory MSE of D (PROTOCOLS.md §3.4) on the held-out scenes.",
        **{
            f"mse_{s}": f"Trajectory MSE on the held-out {TITLES[s].lower()} scenes."
            for s in SCENARIOS
        },
        **{
            f"copy_c_{s}": f"MSE of Copy C (C's positions held) on the same {TITLES[s].lower()} "
            "scenes."
            for s in SCENARIOS
        },
        "n_train": "Scenes (not items) the model was trained on.",
        "n_test": "Scenes held out and scored.",
    }
    smoke_config = {
        "epochs": 1,
        "batch_size": 8,
        "hidden": 8,
        "max_examples": 8,
        "cross_count": False,
    }
    summary_fields = ["epochs", "hidden"]
    active_learning = [UNCERTAINTY]

    def records(self, project: Project, config: CophyTrainConfig) -> list[dict]:
        records = scene_records(project)
        if not records:
            raise TrainingError("The model learns from the study's scenes; import some first.")
        return records

    def train(
        self, records, config: CophyTrainConfig, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.cophy.train import train

        result = train(records, config, device, progress, out_dir)
        # The split goes with the weights, so a prediction can say whether its scene was
        # trained on (the checkpoint's own config is ml.cophy's).
        (Path(out_dir) / SPLIT_FILE).write_text(
            json.dumps({"train_ids": result.snapshot["train_ids"]})
        )
        snapshot = {**result.snapshot["counts"], "held_out_ids": result.snapshot["held_out_ids"]}
        return TrainOutcome(_flat(result.metrics), config.to_dict(), config.seed, snapshot)

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        """Every item of each scene: ``{"positions", "will_move", "tower_falls",
        "moving_probability", "split"}``; uncertainty = how close the per-object
        "will it move" probabilities are to ½ (0 sure, 1 a coin toss), averaged."""
        from ml.cophy.predict import predict

        split_path = Path(artifact_dir) / SPLIT_FILE
        trained = (
            set(json.loads(split_path.read_text())["train_ids"]) if split_path.exists() else set()
        )
        outputs = predict(Path(artifact_dir), records, device, progress=progress)
        rows = []
        for record, out in zip(records, outputs, strict=True):
            value = out.to_dict()
            value["split"] = "train" if record["example_id"] in trained else "test"
            present = np.abs(np.asarray(record["cd"])[0, :, :3]).sum(-1) > 0
            peak = out.moving_probability.max(0)[present]
            uncertainty = float(np.mean(1 - np.abs(2 * peak - 1))) if peak.size else 0.0
            rows += [PredictionRow(i, value, uncertainty) for i in record["item_ids"]]
        return rows

    def priority(self, mode: str, item: Item, value: dict, uncertainty: float) -> float:
        """The scenes the model is least sure about first: people's answers there say most."""
        return uncertainty


COPHY_TRAINER = CophyTrainer()
