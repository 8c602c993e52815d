"""The explain trainer: a CamNet (``ml.explain.cnn``) trained on the study's own images.

The images and their ground truth (class, boxes) are what an inspection study already holds,
so the model loop can retrain the classifier whose maps people inspect and report how well
each normalisation of its CAMs localises (MaxBoxAcc, MaxBoxAccV2) on held-out images.

A study shows each image on several items (six pairs, four single maps), so a record is one
image, not one item: training on an image six times, or scoring an image that was also
trained on, would bias the metrics. A prediction, though, is about the image and so holds for
every item showing it; ``predict`` writes it onto each of them, and active learning serves the
items of the images the classifier is least sure of first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia, Project
from apps.training.trainers import UNCERTAINTY, PredictionRow, Trainer, TrainOutcome
from ml.config import TrainingError
from ml.explain.config import ExplainTrainConfig
from ml.explain.saliency import LABELS, NORMALISATIONS

from .images import read_rgb

IMAGE_KEY = "image"


def image_records(project: Project) -> list[dict]:
    """One record per image id: its first item, all its items, its image file and truth."""
    rows = (
        ItemMedia.objects.filter(item__project=project, item__kind=Item.Kind.REGULAR, key=IMAGE_KEY)
        .order_by("item_id")
        .values_list("item_id", "item__payload", "file")
    )
    by_image: dict[str, dict] = {}
    for item_id, payload, name in rows.iterator(chunk_size=5000):
        payload = payload or {}
        image_id = payload.get("image_id")
        if image_id is None or payload.get("class_id") is None:
            continue
        record = by_image.get(image_id)
        if record is None:
            by_image[image_id] = {
                "item_id": item_id,
                "item_ids": [item_id],
                "image_id": image_id,
                "image": name,
                "class_id": int(payload["class_id"]),
                "class_name": str(payload.get("class_name") or payload["class_id"]),
                "boxes": [list(map(int, b)) for b in payload.get("boxes") or []],
            }
        else:
            record["item_ids"].append(item_id)
    return list(by_image.values())


def class_names(records: Sequence[dict]) -> list[str]:
    """Names by class id 0..max; an id no image has keeps its number as its name."""
    named = {r["class_id"]: r["class_name"] for r in records}
    return [named.get(i, str(i)) for i in range(max(named, default=-1) + 1)]


def _rgb(record: dict):
    with media_storage.open(record["image"], "rb") as handle:
        return read_rgb(handle.read(), record["image_id"])


def _labelled(records: Sequence[dict]):
    from ml.explain.cnn import LabelledImage

    return [LabelledImage(r["image_id"], _rgb(r), r["class_id"], r["boxes"]) for r in records]


def _metric_columns() -> list[tuple[str, str]]:
    columns = [("accuracy", "Accuracy")]
    for method in NORMALISATIONS:
        columns.append((f"max_box_acc_{method}", f"MaxBoxAcc ({LABELS[method]})"))
    for method in NORMALISATIONS:
        columns.append((f"max_box_acc_v2_{method}", f"MaxBoxAccV2 ({LABELS[method]})"))
    columns += [
        ("max_box_acc_center", "MaxBoxAcc (centre baseline)"),
        ("n_train", "Training images"),
        ("n_test", "Held-out images"),
    ]
    return columns


class ExplainTrainer(Trainer):
    key = "explain"
    title = "CAM classifier (CamNet, GAP + linear)"
    Config = ExplainTrainConfig
    metrics = _metric_columns()
    metric_help = {
        "accuracy": "Share of held-out images whose predicted class is their true class.",
        **{
            f"max_box_acc_{m}": f"Percent of held-out images whose {LABELS[m]}-normalised CAM "
            "gives a box with IoU ≥ 0.5 at the best threshold (Choe et al., CVPR 2020)."
            for m in NORMALISATIONS
        },
        **{
            f"max_box_acc_v2_{m}": f"MaxBoxAccV2 of the {LABELS[m]}-normalised CAMs: all "
            "contours' boxes, averaged over IoU 0.3, 0.5 and 0.7."
            for m in NORMALISATIONS
        },
        "max_box_acc_center": "MaxBoxAcc of a centred Gaussian, the map that looks at nothing.",
        "n_train": "Images (not items) the classifier was trained on.",
        "n_test": "Images it was scored on.",
    }
    smoke_config = {"epochs": 1, "batch_size": 16, "width": 4, "image_size": 32}
    summary_fields = ["epochs", "lr", "width", "test_fraction"]
    active_learning = [UNCERTAINTY]

    def records(self, project: Project, config: ExplainTrainConfig) -> list[dict]:
        records = image_records(project)
        if not records:
            raise TrainingError(
                "The CAM classifier learns from the study's images; this study has none "
                "(a rationale study holds text)."
            )
        return records

    def train(
        self, records, config: ExplainTrainConfig, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.explain.cnn import train_on_images

        result = train_on_images(
            _labelled(records),
            config,
            device,
            progress,
            out_dir,
            class_names=class_names(records),
        )
        return TrainOutcome(result.metrics, config.to_dict(), config.seed, result.snapshot)

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        """Every item of each image: ``{"class_id", "class_name", "probabilities",
        "correct", "split"}``; uncertainty = 1 − the top class probability."""
        from ml.common.checkpoint import read_config
        from ml.explain.cnn import predict_images

        saved = read_config(artifact_dir)
        names, test_ids = saved["class_names"], set(saved["test_image_ids"])
        probabilities = predict_images(artifact_dir, [_rgb(r) for r in records], device)
        rows = []
        for record, probs in zip(records, probabilities, strict=True):
            predicted = int(probs.argmax())
            value = {
                "class_id": predicted,
                "class_name": names[predicted],
                "probabilities": [round(float(p), 6) for p in probs],
                "correct": predicted == record["class_id"],
                "split": "test" if record["image_id"] in test_ids else "train",
            }
            uncertainty = max(0.0, 1.0 - float(probs.max()))
            rows += [PredictionRow(i, value, uncertainty) for i in record.get("item_ids") or []]
        return rows

    def priority(self, mode: str, item: Item, value: dict, uncertainty: float) -> float:
        """The least sure image's items first: people's judgements of its maps teach most."""
        return uncertainty


EXPLAIN_TRAINER = ExplainTrainer()
