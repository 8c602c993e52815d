"""The explain study's writes: images with their maps become the design's items; the demo.

Both the demo (a CamNet trained in seconds on generated objects-on-clutter images) and a
researcher's upload (``importing.py``) arrive here as :class:`ImageRecord` rows. Each image's
raw map is normalised four ways (``ml.explain.saliency``), scored against the ground truth
(``metrics.image_scores``) and rendered as overlays; then the project's design decides which
items hold which overlays. Everything is stored in one transaction, and media files already
written are deleted again if anything fails.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction

from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia, Project
from ml.explain.saliency import NORMALISATIONS, normalise

from . import images, metrics
from .schemas import Config, config_of


@dataclass(eq=False)
class ImageRecord:
    """One image, its ground truth and its raw (unnormalised) map for the GT class."""

    image_id: str
    rgb: np.ndarray  # (H, W, 3) uint8
    class_id: int
    class_name: str
    boxes: list[list[int]]  # GT boxes in image pixels
    cam: np.ndarray  # raw map, any 2-D shape (scored in its own frame, as WSOL does)
    map_boxes: list[list[int]]  # the GT boxes in the map's frame
    mask: np.ndarray | None = None  # foreground in the map's frame (PxAP), if known
    ignore: np.ndarray | None = None


@dataclass
class _Prepared:
    record: ImageRecord
    overlays: dict[str, bytes]  # normalisation -> PNG
    image_png: bytes
    auto: dict[str, dict[str, list[float]]]


def _prepare(record: ImageRecord, percentile: float) -> _Prepared:
    overlays, auto = {}, {}
    for method in NORMALISATIONS:
        scoremap = normalise(record.cam, method, percentile=percentile)
        auto[method] = metrics.image_scores(scoremap, record.map_boxes, record.mask, record.ignore)
        overlays[method] = images.png_bytes(images.overlay(record.rgb, scoremap))
    return _Prepared(record, overlays, images.png_bytes(record.rgb), auto)


def images_store(*, project: Project, records: Sequence[ImageRecord]) -> int:
    """Create the design's items for ``records`` (all or nothing); returns the items created."""
    config = config_of(project)
    prepared = [_prepare(r, config.ivr_percentile) for r in records]
    saved: list[str] = []
    try:
        with transaction.atomic():
            return sum(_items_for(project, config, p, saved) for p in prepared)
    except Exception:
        for name in saved:
            media_storage.delete(name)
        raise


def _showings(design: str) -> list[tuple[str, ...]]:
    """The normalisations each item of an image shows: pairs, or one at a time."""
    if design == "pairwise":
        return list(itertools.combinations(NORMALISATIONS, 2))
    return [(method,) for method in NORMALISATIONS]


def _items_for(project: Project, config: Config, p: _Prepared, saved: list[str]) -> int:
    r = p.record
    height, width = r.rgb.shape[:2]
    base = {
        "image_id": r.image_id,
        "class_id": r.class_id,
        "class_name": r.class_name,
        "width": width,
        "height": height,
        "boxes": r.boxes,
    }
    showings = _showings(config.design)
    for n, shown in enumerate(showings):
        # The scores are the image's, not the item's: kept once, on its first item.
        payload = {**base, "auto": p.auto} if n == 0 else dict(base)
        if len(shown) == 2:
            payload["normalisations"] = list(shown)
        else:
            payload["normalisation"] = shown[0]
        item = Item.objects.create(
            project=project, external_id=f"{r.image_id}|{'~'.join(shown)}", payload=payload
        )
        _media_save(item, "image", p.image_png, saved)
        for method in shown:
            _media_save(item, method, p.overlays[method], saved)
    return len(showings)


def _media_save(item: Item, key: str, content: bytes, saved: list[str]) -> None:
    row = ItemMedia(item=item, key=key, content_type="image/png", size=len(content))
    row.file.save(f"{key}.png", ContentFile(content), save=False)
    saved.append(row.file.name)
    row.save()


# --- the demo --------------------------------------------------------------------------------

DEMO_IMAGES = 12
DEMO_INSTRUCTIONS = """\
Each screen shows a picture of one object on a cluttered background, with a **heatmap** laid
over it: the warm (red and yellow) parts are where a classifier looked to recognise the object.

Answer the question on each screen about how well the heatmap covers the object. There are no
trick questions; go by what you see.
"""


@functools.lru_cache(maxsize=1)
def demo_records() -> tuple[ImageRecord, ...]:
    """The demo's images: generated test images and the CAMs of a CamNet trained in seconds on
    the CPU (a few hundred generated training images, a narrow network), for the GT class.

    Deterministic, so a process trains it once for every demo it seeds (read-only records)."""
    import torch

    from ml.explain import cnn, data
    from ml.explain.config import ExplainCnnConfig

    config = ExplainCnnConfig(epochs=3, n_train=160, n_test=DEMO_IMAGES, width=8, seed=0)
    recipe = {"seed": config.seed, "size": config.image_size, "num_classes": config.num_classes}
    model, _ = cnn.fit(
        data.generate("train", config.n_train, **recipe), config, torch.device("cpu")
    )
    samples = data.generate("test", config.n_test, **recipe)
    cams = cnn.cam(model, [s.image for s in samples], [s.label for s in samples])
    names = data.class_names(config.num_classes)
    return tuple(
        ImageRecord(
            image_id=s.image_id,
            rgb=s.image,
            class_id=s.label,
            class_name=names[s.label],
            boxes=[list(s.box)],
            cam=cams[i].astype(np.float64),
            map_boxes=[list(s.box)],
            mask=s.mask,
        )
        for i, s in enumerate(samples)
    )


def demo_seed(*, project: Project) -> None:
    """The demo study: the project's design over the generated images and the CAM model's maps."""
    project.config = Config.model_validate(project.config or {}).model_dump(mode="json")
    # Each simulated person does a dozen items and every item wants 5 answers, so the demo's
    # 20 simulated participants leave work for a visitor who opens the crowd link.
    project.overlap = 5
    project.items_per_participant = 12
    project.instructions = DEMO_INSTRUCTIONS
    if project.config["design"] == "counterfactual":
        from . import counterfactual

        # 12 pairs wanting 10 answers each, 4 per person: 20 simulated people leave 40.
        project.overlap, project.items_per_participant = 10, 4
        project.instructions = (
            counterfactual.DESCRIBE_INSTRUCTIONS
            if counterfactual.describing(project)
            else counterfactual.DEMO_INSTRUCTIONS
        )
        project.save(update_fields=["config", "overlap", "items_per_participant", "instructions"])
        counterfactual.demo_seed(project=project)
        return
    if project.config["design"] == "rationale":
        from . import text

        # 8 posts wanting 10 rationales each, 3 per person: 20 simulated people leave 20.
        project.overlap, project.items_per_participant = 10, 3
        project.instructions = text.DEMO_INSTRUCTIONS
        project.save(update_fields=["config", "overlap", "items_per_participant", "instructions"])
        text.demo_seed(project=project)
        return
    project.save(update_fields=["config", "overlap", "items_per_participant", "instructions"])
    images_store(project=project, records=demo_records())


def _quality(item: Item, method: str) -> float:
    """How well ``method``'s map localises this image, 0–1: the mean best IoU over the
    threshold sweep (a map that fits the object at many thresholds looks convincing)."""
    auto = (
        Item.objects.filter(
            project_id=item.project_id,
            payload__image_id=item.payload["image_id"],
            payload__has_key="auto",
        )
        .values_list("payload__auto", flat=True)
        .first()
    )
    return float(np.mean(auto[method]["iou_v1"])) if auto else 0.5


def answer_simulate(*, item: Item, rng: random.Random) -> dict:
    """A simulated inspector for the demo: prefers, rates and traces the better-fitting map."""
    design = config_of(item.project).design
    payload = item.payload
    if design == "pairwise":
        a, b = payload["normalisations"]
        gap = _quality(item, a) - _quality(item, b)
        draw = rng.gauss(gap * 4, 1.0)
        preferred = "same" if abs(draw) < 0.2 else ("a" if draw > 0 else "b")
        order = rng.choice(["ab", "ba"])
        first = "a" if order == "ab" else "b"
        choice = {"same": "same", first: "first"}.get(preferred, "second")
        return {"choice": choice, "order": order}
    quality = _quality(item, payload["normalisation"])
    if design == "plausibility":
        return {"score": int(min(5, max(1, round(1 + 4 * quality + rng.gauss(0, 0.7)))))}
    return _simulated_box(payload, quality, rng)


def _simulated_box(payload: dict, quality: float, rng: random.Random) -> dict:
    """The GT box with each edge moved at random, further the worse the map fits."""
    width, height = payload["width"], payload["height"]
    x0, y0, x1, y1 = payload["boxes"][0]
    spread = (1.0 - quality) * 0.25
    edges = [
        x + rng.gauss(0, spread * size)
        for x, size in ((x0, width), (y0, height), (x1, width), (y1, height))
    ]
    left, right = sorted((edges[0], edges[2]))
    top, bottom = sorted((edges[1], edges[3]))

    def clip(value: float, size: int) -> int:
        return int(min(size - 1, max(0, round(value))))

    return {
        "x0": clip(left, width),
        "y0": clip(top, height),
        "x1": clip(right, width),
        "y1": clip(bottom, height),
    }
