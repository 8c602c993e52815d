"""The CAM classifier through the model loop: a real in-process training job on a study's
imported images, its metrics recomputed here from the stored predictions and the artifact."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import torch

from apps.core.jobs import job_create, job_start
from apps.core.models import Item
from apps.explain import importing
from apps.explain.trainer import EXPLAIN_TRAINER
from apps.training import services
from apps.training.models import ModelVersion, Prediction
from apps.training.trainers import get
from ml.explain import cnn

from .layouts import layout_zip

pytestmark = pytest.mark.django_db

N_IMAGES = 16
SIZE = 48  # the uploaded images' size
INPUT = 32  # the network's: images and boxes are rescaled, so the rescaling is checked too
CONFIG = {"epochs": 4, "width": 8, "batch_size": 8, "image_size": INPUT, "seed": 3}


@pytest.fixture
def torch_threads():
    """Gives the test's thread changes back to the rest of the run."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _imported(explain_project, design="plausibility"):
    project = explain_project(design)
    content, samples, _ = layout_zip(N_IMAGES, size=SIZE)
    report = importing.layout_import(project=project, upload=io.BytesIO(content))
    assert report.ok, report.errors
    return project, samples


def _train(project, settings) -> ModelVersion:
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    settings.CHORUS_TORCH_THREADS = 1
    job = job_create(kind=services.TRAIN_JOB_KIND, project=project, params={"config": CONFIG})
    job_start(job)
    services.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message + job.log_tail
    return ModelVersion.objects.get(project=project)


def test_records_are_one_per_image_with_every_item_showing_it(explain_project):
    project, samples = _imported(explain_project)
    records = EXPLAIN_TRAINER.records(project, EXPLAIN_TRAINER.Config())
    json.dumps(records)
    assert sorted(r["image_id"] for r in records) == sorted(s.image_id for s in samples)
    truth = {s.image_id: s for s in samples}
    for record in records:
        items = Item.objects.filter(project=project, payload__image_id=record["image_id"])
        assert sorted(record["item_ids"]) == sorted(items.values_list("pk", flat=True))
        assert len(record["item_ids"]) == 4  # plausibility: one item per normalisation
        assert record["item_id"] == min(record["item_ids"])
        assert record["class_id"] == truth[record["image_id"]].label
        assert record["boxes"] == [list(truth[record["image_id"]].box)]


def test_a_training_job_predicts_every_item_and_its_metrics_recompute(
    explain_project, settings, tmp_path, torch_threads
):
    project, samples = _imported(explain_project)
    version = _train(project, settings)
    truth = {s.image_id: s for s in samples}
    items = {i.pk: i for i in Item.objects.filter(project=project)}
    predictions = list(Prediction.objects.filter(model_version=version))
    assert sorted(p.item_id for p in predictions) == sorted(items)  # every item, once

    by_image: dict[str, list[Prediction]] = {}
    for p in predictions:
        by_image.setdefault(items[p.item_id].payload["image_id"], []).append(p)
    for rows in by_image.values():  # a prediction is the image's: the same on all its items
        assert all(r.value == rows[0].value for r in rows)
    for p in predictions:
        probs = np.array(p.value["probabilities"])
        assert probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert p.value["class_id"] == int(probs.argmax())
        assert p.uncertainty == pytest.approx(1.0 - probs.max(), abs=1e-5)

    test_ids = sorted(i for i, rows in by_image.items() if rows[0].value["split"] == "test")
    assert len(test_ids) == round(0.25 * N_IMAGES) == version.metrics["n_test"]
    assert version.metrics["n_train"] == N_IMAGES - len(test_ids)
    correct = [by_image[i][0].value["class_id"] == truth[i].label for i in test_ids]
    assert version.metrics["accuracy"] == pytest.approx(np.mean(correct))

    local = services.artifact_local_dir(version, tmp_path / "artifact")
    model = cnn.load(local, torch.device("cpu"))
    maps = [_minmax(_cam(model, truth[i].image, truth[i].label)) for i in test_ids]
    boxes = [_scaled(truth[i].box) for i in test_ids]
    assert version.metrics["max_box_acc_minmax"] == pytest.approx(_max_box_acc(maps, boxes))
    labels = dict(EXPLAIN_TRAINER.metrics)
    assert set(labels) <= set(version.metrics)
    assert labels["max_box_acc_v2_ivr"] == "MaxBoxAccV2 (IVR)"


def test_a_rationale_study_has_no_images_to_train_on(explain_project, settings):
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    project = explain_project("rationale")
    job = job_create(kind=services.TRAIN_JOB_KIND, project=project, params={"config": {}})
    job_start(job)
    services.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.FAILED
    assert "has none" in job.message
    assert get("explain") is EXPLAIN_TRAINER


# --- the independent recomputation ---------------------------------------------------------


def _cam(model, rgb: np.ndarray, label: int) -> np.ndarray:
    """The GT-class CAM at the network's input size: weights · features, resized bicubically."""
    small = cv2.resize(rgb, (INPUT, INPUT), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(small.astype(np.float32)).permute(2, 0, 1)[None]
    x = (x / 255.0 - 0.5) / 0.25
    with torch.no_grad():
        features = model.features(x)[0].numpy()
    weights = model.classifier.weight[label].detach().numpy()
    raw = np.tensordot(weights, features, axes=1).astype(np.float32)
    return cv2.resize(raw, (INPUT, INPUT), interpolation=cv2.INTER_CUBIC).astype(np.float64)


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / a.max() if a.max() > 0 else a


def _scaled(box) -> list[int]:
    return [int(v * INPUT / SIZE) for v in box]


def _iou(a, b) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - w * h
    return w * h / union if union > 0 else 0.0


def _max_box_acc(maps, boxes) -> float:
    """Choe et al.'s MaxBoxAcc: the largest contour's box at each threshold τ = 0, .01, ...;
    the best τ's share (percent) of images with IoU ≥ 0.5."""
    best = []
    for tau in np.arange(0, 1, 0.01):
        hits = 0
        for scoremap, gt in zip(maps, boxes, strict=True):
            image = (scoremap * 255).astype(np.uint8)
            _, binary = cv2.threshold(image, int(tau * image.max()), 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            if contours:
                x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
                box = [x, y, min(x + w, INPUT - 1), min(y + h, INPUT - 1)]
            else:
                box = [0, 0, 0, 0]
            hits += _iou(box, gt) >= 0.5
        best.append(100.0 * hits / len(maps))
    return max(best)
