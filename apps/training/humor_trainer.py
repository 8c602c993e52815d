"""The humor trainer: CHoRaL's classifier over ``ml.humor``, keyed "humor".

Items carry the post in ``payload`` (``text``, ``hs``, ``ns``, ``reaction_label``, ``split``);
human answers are ``{"funny": "yes" | "no"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from apps.core.models import Annotation, Item, Participant, Project

from .trainers import PredictionRow, Trainer, TrainOutcome


def _human_majority(project: Project) -> dict[int, str]:
    """Majority "yes"/"no" per regular item over non-blocked participants (ties left out)."""
    votes: dict[int, list[int]] = {}
    answers = (
        Annotation.objects.filter(project=project, item__kind=Item.Kind.REGULAR)
        .exclude(participant__status=Participant.Status.BLOCKED)
        .values_list("item_id", "value")
    )
    for item_id, value in answers.iterator(chunk_size=5000):
        funny = (value or {}).get("funny")
        if funny in ("yes", "no"):
            tally = votes.setdefault(item_id, [0, 0])
            tally[funny == "yes"] += 1
    return {i: "yes" if yes > no else "no" for i, (no, yes) in votes.items() if yes != no}


class HumorTrainer(Trainer):
    key = "humor"
    title = "Humor classifier (CHoRaL)"
    targets = [
        ("binary", "Binary: humorous vs not (reaction labels)"),
        ("continuous", "Continuous: humor score HS"),
    ]

    def records(self, project: Project, config: dict) -> list[dict]:
        wants_human = config.get("label_source") in ("human", "both")
        human = _human_majority(project) if wants_human else {}
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
        self, records, config: dict, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.humor.train import HumorTrainConfig, train

        cfg = HumorTrainConfig.from_dict(config)
        result = train(records, cfg, device, progress, out_dir)
        return TrainOutcome(result.metrics, result.snapshot, cfg.to_dict(), cfg.seed)

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        from ml.humor.predict import Predictor

        predictor = Predictor(artifact_dir, device)
        outputs = predictor.predict([r["text"] for r in records], progress=progress)
        rows = []
        for record, out in zip(records, outputs, strict=True):
            value = {"funny": "yes" if out.funny else "no", "p_humorous": round(out.p_humorous, 6)}
            if out.hs is not None:
                value["hs"] = round(out.hs, 6)
            rows.append(
                PredictionRow(record["item_id"], value, out.p_humorous, out.entropy, out.margin)
            )
        return rows

    def prefill_value(self, prediction_value: dict) -> dict | None:
        funny = (prediction_value or {}).get("funny")
        return {"funny": funny} if funny in ("yes", "no") else None

    def disagreement(self, item: Item, prediction_value: dict, score: float | None) -> float | None:
        reaction = (item.payload or {}).get("reaction_label")
        if reaction not in ("humorous", "non_humorous") or score is None:
            return None
        return abs((1.0 if reaction == "humorous" else 0.0) - score)


HUMOR_TRAINER = HumorTrainer()
