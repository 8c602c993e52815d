"""A small CNN whose class activation maps (CAM, Zhou et al. 2016) are exact, and its training run.

The network ends in global average pooling and one linear layer, so the logit of class c is
the spatial mean of ``CAM_c = sum_k w_ck f_k`` plus a bias: the map is the classifier's own
evidence, not an approximation. :func:`cam` computes it for the ground-truth class (WSOL is
scored "GT-known", whatever the prediction) and resizes it bicubically to the image, as
``wsolevaluation``'s ``CAMComputer`` does with ``cv2.resize(..., INTER_CUBIC)``.

``train_on_images(images, config, ...)`` does the same on a study's own images (the model
loop's run, ``apps/explain/trainer.py``), holding out a seeded share of them.

``train(config, device, progress, out_dir)`` generates the objects-on-clutter set from the
config, fits the network, scores classification and localisation (every normalisation, plus
the centre-Gaussian baseline) on the generated test split, and writes a self-describing
checkpoint that :func:`load` reads back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from ml.common import (
    ProgressFn,
    TrainingError,
    autocast,
    load_checkpoint,
    pick_device,
    report,
    save_checkpoint,
    seed_everything,
)
from ml.common.checkpoint import read_config
from ml.common.progress import scaled

from .config import ExplainCnnConfig, ExplainTrainConfig
from .data import Sample, class_names, generate
from .saliency import center_gaussian
from .wsol import Box, max_box_acc, max_box_acc_v2, normalisation_table, pxap, rescale_box

KIND = "explain-cam"


class CamNet(nn.Module):
    """Three conv blocks (stride 4 in all) → GAP → linear; ``width`` doubles per block."""

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        self.num_classes, self.width = num_classes, width
        self.features = nn.Sequential(
            *_block(3, width),
            *_block(width, width),
            nn.MaxPool2d(2),
            *_block(width, 2 * width),
            *_block(2 * width, 2 * width),
            nn.MaxPool2d(2),
            *_block(2 * width, 4 * width),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))

    def class_maps(self, x: torch.Tensor, class_ids: torch.Tensor) -> torch.Tensor:
        """``(N, h, w)`` CAMs at feature resolution: ``sum_k w_{c_n,k} f_k(n)`` for each image n."""
        feats = self.features(x)
        weights = self.classifier.weight[class_ids]
        return torch.einsum("nk,nkhw->nhw", weights, feats)


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 RGB → ``(N, 3, H, W)`` float32, centred and scaled."""
    array = np.stack(images) if not isinstance(images, np.ndarray) else images
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"Expected (N, H, W, 3) RGB images; got shape {array.shape}.")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    return (x / 255.0 - 0.5) / 0.25


@torch.no_grad()
def cam(
    model: CamNet,
    images: np.ndarray | Sequence[np.ndarray],
    class_ids: Sequence[int],
    *,
    batch_size: int = 64,
) -> np.ndarray:
    """Raw (unnormalised) CAMs of ``class_ids`` (one per image), ``(N, H, W)`` float32 at image size.

    Computed in float32 on the model's device, resized with OpenCV bicubic interpolation."""
    model.eval()
    device = next(model.parameters()).device
    x_all = to_tensor(images)
    ids = torch.as_tensor(list(class_ids), dtype=torch.long)
    if len(ids) != len(x_all):
        raise ValueError(f"{len(x_all)} images but {len(ids)} class ids.")
    if len(ids) and (ids.min() < 0 or ids.max() >= model.num_classes):
        raise ValueError(f"Class ids must lie in 0..{model.num_classes - 1}.")
    height, width = x_all.shape[2:]
    out = np.empty((len(x_all), height, width), dtype=np.float32)
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size].to(device)
        maps = model.class_maps(x, ids[start : start + batch_size].to(device)).float().cpu().numpy()
        for i, m in enumerate(maps):
            out[start + i] = cv2.resize(m, (width, height), interpolation=cv2.INTER_CUBIC)
    return out


@torch.no_grad()
def predict_proba(
    model: CamNet, images: np.ndarray | Sequence[np.ndarray], *, batch_size: int = 128
) -> np.ndarray:
    """``(N, K)`` class probabilities."""
    model.eval()
    device = next(model.parameters()).device
    x_all = to_tensor(images)
    chunks = [
        torch.softmax(model(x_all[s : s + batch_size].to(device)).float(), dim=1).cpu()
        for s in range(0, len(x_all), batch_size)
    ]
    return torch.cat(chunks).numpy()


def fit(
    samples: Sequence[Sample],
    config: ExplainCnnConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
) -> tuple[CamNet, list[float]]:
    """Train a fresh :class:`CamNet` on generated ``samples`` (see :func:`fit_images`)."""
    return fit_images(
        [s.image for s in samples],
        [s.label for s in samples],
        config,
        device,
        progress,
        num_classes=config.num_classes,
    )


def fit_images(
    images: Sequence[np.ndarray],
    labels: Sequence[int],
    config: ExplainCnnConfig | ExplainTrainConfig,
    device: torch.device,
    progress: ProgressFn | None = None,
    *,
    num_classes: int,
) -> tuple[CamNet, list[float]]:
    """Train a fresh :class:`CamNet` (cross-entropy, AdamW, horizontal flips) on same-size
    RGB ``images``; only the config's optimisation fields are read.

    Returns the model (in eval mode, on ``device``) and each epoch's mean training loss."""
    if not len(images):
        raise TrainingError("No training images.")
    generator = seed_everything(config.seed)
    x_all = to_tensor(images)
    y_all = torch.tensor(list(labels), dtype=torch.long)
    n = len(x_all)
    model = CamNet(num_classes, config.width).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = -(-n // config.batch_size)
    total, step, history = steps_per_epoch * config.epochs, 0, []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n, generator=generator)
        running = 0.0
        for start in range(0, n, config.batch_size):
            index = order[start : start + config.batch_size]
            x, y = x_all[index], y_all[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            x[flip] = x[flip].flip(-1)
            x, y = x.to(device), y.to(device)
            with autocast(device):
                loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            running += float(loss.item()) * len(index)
            report(
                progress,
                step / total,
                f"epoch {epoch + 1}/{config.epochs} · loss {loss.item():.3f}",
            )
        history.append(running / n)
    return model.eval(), history


@dataclass
class TrainResult:
    artifact_dir: Path
    metrics: dict[str, Any]  # accuracy, per-normalisation table, centre baseline
    snapshot: dict[str, Any]  # what data the run saw (it is generated, so: its recipe)
    epoch_losses: list[float]
    timings: dict[str, float] = field(default_factory=dict)


def train(
    config: ExplainCnnConfig,
    device: torch.device | None = None,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
) -> TrainResult:
    """Generate the data the config names, fit, evaluate on its test split, write a checkpoint."""
    config = config.checked()
    if out_dir is None:
        raise TrainingError("train() needs an out_dir for the checkpoint.")
    device = device or pick_device()
    started = time.perf_counter()
    recipe = {"seed": config.seed, "size": config.image_size, "num_classes": config.num_classes}
    train_set = generate("train", config.n_train, **recipe)
    test_set = generate("test", config.n_test, **recipe)
    data_seconds = time.perf_counter() - started

    started = time.perf_counter()
    model, history = fit(train_set, config, device, scaled(progress, 0.0, 0.85))
    train_seconds = time.perf_counter() - started

    report(progress, 0.85, "Scoring the CAMs on the test images")
    started = time.perf_counter()
    metrics = evaluate(model, test_set, config)
    eval_seconds = time.perf_counter() - started

    save_checkpoint(
        out_dir,
        model,
        {
            "kind": KIND,
            "train_config": config.to_dict(),
            "num_classes": config.num_classes,
            "width": config.width,
            "class_names": class_names(config.num_classes),
        },
    )
    snapshot = {"generator": recipe, "n_train": len(train_set), "n_test": len(test_set)}
    report(progress, 1.0, "Trained")
    timings = {
        "data_seconds": data_seconds,
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
    }
    return TrainResult(out_dir, metrics, snapshot, history, timings)


def evaluate(model: CamNet, samples: Sequence[Sample], config: ExplainCnnConfig) -> dict[str, Any]:
    """Test accuracy, the normalisation table on GT-class CAMs, and the centre baseline."""
    images = [s.image for s in samples]
    labels = np.array([s.label for s in samples])
    accuracy = float((predict_proba(model, images).argmax(1) == labels).mean())
    maps = cam(model, images, labels.tolist())
    boxes = [[s.box] for s in samples]
    masks = [s.mask for s in samples]
    interval = config.cam_curve_interval
    table = normalisation_table(
        list(maps), boxes, masks, percentile=config.ivr_percentile, cam_curve_interval=interval
    )
    centre = [center_gaussian(*s.mask.shape) for s in samples]
    baseline = {
        "max_box_acc": max_box_acc(centre, boxes, cam_curve_interval=interval),
        "max_box_acc_v2": max_box_acc_v2(centre, boxes, cam_curve_interval=interval),
        "pxap": pxap(centre, masks, cam_curve_interval=interval),
    }
    return {"accuracy": accuracy, "normalisations": table, "center_baseline": baseline}


def load(directory: Path, device: torch.device | None = None) -> CamNet:
    """The model a :func:`train` run wrote into ``directory``, in eval mode."""
    saved = read_config(directory)
    if saved.get("kind") != KIND:
        raise ValueError(f"{directory} holds a {saved.get('kind')!r} checkpoint, not {KIND!r}.")
    device = device or pick_device()
    model = CamNet(int(saved["num_classes"]), int(saved["width"])).to(device)
    load_checkpoint(directory, model, device)
    return model.eval()


# --- a project's own images (the model loop) -------------------------------------------------


@dataclass(frozen=True, eq=False)
class LabelledImage:
    """One image a study holds: its pixels, ground-truth class and boxes (image pixels)."""

    image_id: str
    rgb: np.ndarray  # (H, W, 3) uint8, any size
    label: int
    boxes: Sequence[Sequence[int]]


def resized(rgb: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` as a ``size`` square, the network's one input size (area-averaged when shrunk)."""
    if rgb.shape[:2] == (size, size):
        return rgb
    height, width = rgb.shape[:2]
    shrink = height > size or width > size
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(rgb, (size, size), interpolation=method)


def held_out(image_ids: Sequence[str], test_fraction: float, seed: int) -> set[str]:
    """The images scored and not trained on: a seeded draw of ``round(fraction * n)`` ids
    (at least one, and at least one left to train on) from the sorted ids, so the split is
    the same for the same images whatever order they arrive in."""
    ordered = sorted(set(image_ids))
    if len(ordered) < 2:
        raise TrainingError(
            f"At least 2 images are needed (one to train on, one to score); got {len(ordered)}."
        )
    n_test = min(len(ordered) - 1, max(1, round(test_fraction * len(ordered))))
    picked = np.random.default_rng(seed).permutation(len(ordered))[:n_test]
    return {ordered[i] for i in picked}


def train_on_images(
    images: Sequence[LabelledImage],
    config: ExplainTrainConfig,
    device: torch.device | None = None,
    progress: ProgressFn | None = None,
    out_dir: Path | None = None,
    *,
    class_names: Sequence[str],
) -> TrainResult:
    """Fit a CamNet on a study's images, score the held-out split, write a checkpoint.

    Metrics: ``accuracy`` and, per normalisation m, ``max_box_acc_m`` and ``max_box_acc_v2_m``
    of the GT-class CAMs (GT-known, as WSOL scores them), with the centre-Gaussian baseline
    beside them, all computed at ``image_size`` (boxes rescaled with the images)."""
    config = config.checked()
    if out_dir is None:
        raise TrainingError("train_on_images() needs an out_dir for the checkpoint.")
    num_classes = len(class_names)
    if num_classes < 2:
        raise TrainingError(
            f"The classifier needs at least 2 classes; the images have {num_classes}."
        )
    bad = sorted({im.label for im in images if not 0 <= im.label < num_classes})
    if bad:
        raise TrainingError(f"Class ids {bad} are outside 0..{num_classes - 1}.")
    device = device or pick_device()
    test_ids = held_out([im.image_id for im in images], config.test_fraction, config.seed)
    train_set = [im for im in images if im.image_id not in test_ids]
    test_set = [im for im in images if im.image_id in test_ids]
    size = config.image_size
    started = time.perf_counter()
    model, history = fit_images(
        [resized(im.rgb, size) for im in train_set],
        [im.label for im in train_set],
        config,
        device,
        scaled(progress, 0.0, 0.85),
        num_classes=num_classes,
    )
    train_seconds = time.perf_counter() - started
    report(progress, 0.85, "Scoring the CAMs on the held-out images")
    metrics = _held_out_metrics(model, test_set, config)
    metrics.update(n_train=len(train_set), n_test=len(test_set))
    save_checkpoint(
        out_dir,
        model,
        {
            "kind": KIND,
            "train_config": config.to_dict(),
            "num_classes": num_classes,
            "width": config.width,
            "image_size": size,
            "class_names": list(class_names),
            # The run's held-out images: predictions made later say which ones it scored.
            "test_image_ids": sorted(test_ids),
        },
    )
    snapshot = {"n_train": len(train_set), "n_test": len(test_set), "classes": num_classes}
    report(progress, 1.0, "Trained")
    return TrainResult(out_dir, metrics, snapshot, history, {"train_seconds": train_seconds})


def scaled_boxes(image: LabelledImage, size: int) -> list[Box]:
    """The image's GT boxes in the ``size`` square it is scored at."""
    height, width = image.rgb.shape[:2]
    return [rescale_box(b, (width, height), (size, size)) for b in image.boxes]


def _held_out_metrics(
    model: CamNet, test_set: Sequence[LabelledImage], config: ExplainTrainConfig
) -> dict[str, Any]:
    """Flat metrics (the Models table's columns) of ``model`` on the held-out images."""
    size, interval = config.image_size, config.cam_curve_interval
    x = [resized(im.rgb, size) for im in test_set]
    labels = np.array([im.label for im in test_set])
    metrics: dict[str, Any] = {
        "accuracy": float((predict_proba(model, x).argmax(1) == labels).mean())
    }
    boxes = [scaled_boxes(im, size) for im in test_set]
    table = normalisation_table(
        list(cam(model, x, labels.tolist())),
        boxes,
        percentile=config.ivr_percentile,
        cam_curve_interval=interval,
    )
    for method, row in table.items():
        metrics[f"max_box_acc_{method}"] = row["max_box_acc"]
        metrics[f"max_box_acc_v2_{method}"] = row["max_box_acc_v2"]
    centre = [center_gaussian(size, size)] * len(test_set)
    metrics["max_box_acc_center"] = max_box_acc(centre, boxes, cam_curve_interval=interval)
    return metrics


def predict_images(
    directory: Path, rgbs: Sequence[np.ndarray], device: torch.device | None = None
) -> np.ndarray:
    """``(N, K)`` class probabilities of a :func:`train_on_images` checkpoint for ``rgbs``."""
    size = int(read_config(directory).get("image_size") or 64)
    model = load(directory, device)
    if not len(rgbs):
        return np.zeros((0, model.num_classes), dtype=np.float32)
    return predict_proba(model, [resized(rgb, size) for rgb in rgbs])
