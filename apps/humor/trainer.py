"""The humor trainer: CHoRaL's classifier (or HS regressor) over ``ml.humor``.

Items carry the post in ``payload`` (``text``, ``hs``, ``reaction_label``, ``split``); human
labels are the core's majority vote over non-blocked participants (``core.quality``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from apps.core import quality
from apps.core.models import Item, Project
from apps.training.trainers import (
    UNCERTAINTY,
    ActiveLearningMode,
    PredictionRow,
    Trainer,
    TrainOutcome,
)
from ml.humor.config import HumorTrainConfig


class HumorTrainer(Trainer):
    key = "humor"
    title = "Humor classifier (CHoRaL)"
    Config = HumorTrainConfig
    metrics = [
        ("f1", "F1"),
        ("auc", "ROC AUC"),
        ("accuracy", "Accuracy"),
        ("pearson_r", "Pearson r (HS)"),
        ("mse", "MSE (HS)"),
        ("n_train", "Training posts"),
        ("n_test", "Test posts"),
    ]
    metric_help = {
        "f1": "F1 on the test split against the reaction labels (positive class: humorous); "
        "CHoRaL reports F1 and AUC.",
        "auc": "The chance that a random humorous test post scores above a random "
        "non-humorous one (0.5 = guessing).",
        "accuracy": "Share of test posts whose predicted label is their reaction label.",
        "pearson_r": "Correlation of the predicted humor score HS with the real one on the test "
        "split (continuous target only).",
        "mse": "Mean squared error of the predicted HS (continuous target only).",
        "n_train": "Labelled posts the model was trained on.",
        "n_test": "Labelled posts it was scored on.",
    }
    smoke_config = {"epochs": 1, "batch_size": 8, "max_length": 24, "max_samples": 16}
    summary_fields = ["target", "label_source", "encoder", "epochs"]
    active_learning = [
        UNCERTAINTY,
        ActiveLearningMode("margin", "Smallest top-two margin first"),
        ActiveLearningMode("disagreement", "Model disagrees with the reaction label first"),
    ]

    def records(self, project: Project, config: HumorTrainConfig) -> list[dict]:
        human: dict[int, str] = {}
        if config.label_source in ("human", "both"):
            votes = quality.aggregate(quality.answers_frame(project), "majority")
            human = {pk: str(agg.label) for pk, agg in votes.items()}
        rows = Item.objects.filter(project=project, kind=Item.Kind.REGULAR).values_list(
            "id", "payload"
        )
        records = []
        for item_id, payload in rows.order_by("id").iterator(chunk_size=5000):
            payload = payload or {}
            records.append(
                {
                    "item_id": item_id,
                    "text": payload.get("text") or "",
                    "hs": payload.get("hs"),
                    "reaction_label": payload.get("reaction_label"),
                    "split": payload.get("split"),
                    "human_label": human.get(item_id),
                }
            )
        return records

    def train(
        self, records, config: HumorTrainConfig, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.humor.train import train

        result = train(records, config, device, progress, out_dir)
        counts = {k: v for k, v in result.snapshot.items() if not isinstance(v, list)}
        return TrainOutcome(result.metrics, config.to_dict(), config.seed, counts)

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        from ml.humor.predict import Predictor

        predictor = Predictor(artifact_dir, device)
        outputs = predictor.predict([r["text"] for r in records], progress=progress)
        rows = []
        for record, out in zip(records, outputs, strict=True):
            value = {
                "funny": "yes" if out.funny else "no",
                "p_humorous": round(out.p_humorous, 6),
                "margin": round(out.margin, 6),
            }
            if out.hs is not None:
                value["hs"] = round(out.hs, 6)
            rows.append(PredictionRow(record["item_id"], value, out.entropy))
        return rows

    def priority(self, mode: str, item: Item, value: dict, uncertainty: float) -> float:
        if mode == "margin":
            return float(value.get("margin", 0.0))
        if mode == "disagreement":
            reaction = (item.payload or {}).get("reaction_label")
            p = value.get("p_humorous")
            if reaction not in ("humorous", "non_humorous") or p is None:
                return 0.0
            return abs((1.0 if reaction == "humorous" else 0.0) - p)
        return uncertainty

    def prefill_value(self, prediction_value: dict) -> dict | None:
        funny = (prediction_value or {}).get("funny")
        return {"funny": funny} if funny in ("yes", "no") else None


HUMOR_TRAINER = HumorTrainer()
