"""Objects on clutter: a generated localisation set, and the ``wsolevaluation`` metadata layout.

**The generator.** Each image is ``size × size`` RGB: a textured background (random gratings,
pixel noise and a dozen small desaturated patches) with one object of one of K classes (a
shape in its class colour, random size and position, fully inside the frame). Every image
comes from its own NumPy generator seeded by ``(seed, split, index)``, so image 17 of a split
is the same whatever ``n`` is asked for, and the same seed gives the same bytes on every
machine. Each sample carries its ground-truth box and pixel mask.

Boxes follow the convention the official evaluation produces from a map (``cv2.boundingRect``
as ``(x, y, x + w, y + h)``, ``x1``/``y1`` clipped to ``W - 1``/``H - 1``; CUB's boxes are
``x, y, x + w, y + h`` too), so a score map equal to the mask scores IoU 1.

**The layout** (``clovaai/wsolevaluation`` ``data_loaders.py`` and ``metadata/<DATASET>/<split>/``):
``image_ids.txt`` (one relative image path per line), ``class_labels.txt`` (``id,label``),
``image_sizes.txt`` (``id,W,H``), ``localization.txt`` (``id,x0,y0,x1,y1`` per GT box, as CUB
and ILSVRC; or ``id,mask_path,ignore_path`` per mask, as OpenImages, the ignore path only on
an image's first line). Heatmaps for external evaluation are ``<root>/<id without ext>.npy``;
the official ``CamDataset`` actually loads ``<root>/<id>.npy``, so both are accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from .wsol import Box, rescale_box

DATASET_NAME = "Clutter"
SPLITS = {"train": 0, "val": 1, "test": 2}
# (name, RGB colour) per class; the first K are used.
CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("circle", (220, 40, 40)),
    ("square", (40, 170, 60)),
    ("triangle", (50, 80, 220)),
    ("cross", (235, 200, 30)),
    ("diamond", (200, 60, 210)),
    ("ring", (30, 200, 210)),
)


@dataclass(frozen=True, eq=False)
class Sample:
    image_id: str  # relative path, e.g. "test/circle/test_00017.png"
    image: np.ndarray  # (H, W, 3) uint8 RGB
    label: int
    box: Box  # x0, y0, x1, y1 (boundingRect convention, see the module docstring)
    mask: np.ndarray  # (H, W) bool, the object's pixels


class LayoutError(ValueError):
    """An uploaded wsolevaluation layout the evaluation cannot use; the message says why."""


def class_names(num_classes: int) -> list[str]:
    if not 2 <= num_classes <= len(CLASSES):
        raise ValueError(f"num_classes must be between 2 and {len(CLASSES)}; got {num_classes}.")
    return [name for name, _ in CLASSES[:num_classes]]


def generate(
    split: str, n: int, *, seed: int, size: int = 64, num_classes: int = 4
) -> list[Sample]:
    """``n`` samples of ``split`` ("train", "val" or "test"); labels cycle through the classes."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {sorted(SPLITS)}.")
    if size < 24:
        raise ValueError(f"Images must be at least 24 pixels wide; got {size}.")
    names = class_names(num_classes)
    samples = []
    for index in range(n):
        rng = np.random.default_rng([seed, SPLITS[split], index])
        label = index % num_classes
        image, mask = _render(rng, size, label)
        samples.append(
            Sample(
                image_id=f"{split}/{names[label]}/{split}_{index:05d}.png",
                image=image,
                label=label,
                box=mask_box(mask),
                mask=mask,
            )
        )
    return samples


def mask_box(mask: np.ndarray) -> Box:
    """The box ``cv2.boundingRect`` gives a mask, as the evaluation clips it."""
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return (
        int(xs.min()),
        int(ys.min()),
        min(int(xs.max()) + 1, width - 1),
        min(int(ys.max()) + 1, height - 1),
    )


def _render(rng: np.random.Generator, size: int, label: int) -> tuple[np.ndarray, np.ndarray]:
    canvas = _clutter(rng, size)
    radius = rng.uniform(0.12, 0.22) * size
    margin = radius + 1
    cx, cy = rng.uniform(margin, size - 1 - margin, size=2)
    mask = _shape_mask(CLASSES[label][0], size, cx, cy, radius, rng.uniform(0, np.pi))
    colour = np.array(CLASSES[label][1], dtype=np.float64) / 255.0
    colour = np.clip(colour * rng.uniform(0.8, 1.1), 0, 1)
    texture = rng.normal(0.0, 0.04, size=(size, size, 1))
    canvas[mask] = np.clip(colour + texture[mask], 0, 1)
    return (canvas * 255).round().astype(np.uint8), mask


def _clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gratings, noise and small grey-ish patches: texture that carries no class colour."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    canvas = np.full((size, size, 3), rng.uniform(0.35, 0.6)) + rng.normal(0, 0.03, size=3)
    for _ in range(3):
        angle, freq, phase = rng.uniform(0, np.pi), rng.uniform(2, 8), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * freq * (xs * np.cos(angle) + ys * np.sin(angle)) + phase)
        canvas += 0.07 * wave[..., None] * rng.uniform(0.5, 1.0, size=3)
    canvas += rng.normal(0, 0.04, size=canvas.shape)
    for _ in range(rng.integers(8, 14)):
        x0, y0 = rng.integers(0, size - 3, size=2)
        w, h = rng.integers(2, max(4, size // 8), size=2)
        grey = rng.uniform(0.15, 0.85)
        canvas[y0 : y0 + h, x0 : x0 + w] = grey + rng.normal(0, 0.06, size=3)
    return np.clip(canvas, 0, 1)


def _shape_mask(name: str, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = xs - cx, ys - cy
    if name == "circle":
        return dx**2 + dy**2 <= r**2
    if name == "ring":
        d2 = dx**2 + dy**2
        return (d2 <= r**2) & (d2 >= (0.55 * r) ** 2)
    if name == "square":
        return (np.abs(dx) <= 0.85 * r) & (np.abs(dy) <= 0.85 * r)
    if name == "diamond":
        return np.abs(dx) + np.abs(dy) <= r
    if name == "cross":
        inside = (np.abs(dx) <= r) & (np.abs(dy) <= r)
        return inside & ((np.abs(dx) <= 0.33 * r) | (np.abs(dy) <= 0.33 * r))
    if name == "triangle":
        corners = [angle + k * 2 * np.pi / 3 for k in range(3)]
        points = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in corners]
        inside = np.ones((size, size), dtype=bool)
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True):
            inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0
        return inside
    raise ValueError(f"Unknown shape {name!r}.")


# --- the wsolevaluation layout -------------------------------------------------------------


@dataclass(frozen=True)
class WsolMetadata:
    """One split's metadata as read from ``metadata/<DATASET>/<split>/``."""

    directory: Path
    image_ids: tuple[str, ...]
    class_labels: dict[str, int]
    image_sizes: dict[str, tuple[int, int]]  # id -> (W, H); may be empty for a mask layout
    boxes: dict[str, list[Box]] | None  # CUB/ILSVRC-style localization.txt
    mask_paths: dict[str, list[str]] | None  # OpenImages-style localization.txt
    ignore_paths: dict[str, str] | None

    @property
    def kind(self) -> str:
        return "boxes" if self.boxes is not None else "masks"

    def boxes_for(self, image_id: str, shape: tuple[int, int]) -> list[Box]:
        """``image_id``'s GT boxes in the frame of a ``(H, W)`` map (``resize_bbox``)."""
        if self.boxes is None:
            raise LayoutError("This layout has masks, not boxes.")
        width, height = self.image_sizes[image_id]
        return [rescale_box(b, (width, height), (shape[1], shape[0])) for b in self.boxes[image_id]]


def write_wsol_layout(
    samples: Sequence[Sample],
    root: Path,
    *,
    split: str,
    dataset: str = DATASET_NAME,
    localization: str = "boxes",
) -> Path:
    """Write images under ``root/images``, metadata under ``root/metadata/<dataset>/<split>``
    and, for ``localization="masks"``, mask PNGs (0/255) and empty ignore masks under
    ``root/masks``. Returns the metadata directory."""
    if localization not in ("boxes", "masks"):
        raise ValueError(f"localization must be 'boxes' or 'masks'; got {localization!r}.")
    meta = root / "metadata" / dataset / split
    meta.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {"ids": [], "labels": [], "sizes": [], "loc": []}
    for s in samples:
        height, width = s.mask.shape
        _write_png(root / "images" / s.image_id, s.image[..., ::-1])
        lines["ids"].append(s.image_id)
        lines["labels"].append(f"{s.image_id},{s.label}")
        lines["sizes"].append(f"{s.image_id},{width},{height}")
        if localization == "boxes":
            lines["loc"].append(f"{s.image_id},{','.join(str(v) for v in s.box)}")
        else:
            stem = str(PurePosixPath(s.image_id).with_suffix(""))
            mask_rel, ignore_rel = f"{stem}_mask.png", f"{stem}_ignore.png"
            _write_png(root / "masks" / mask_rel, s.mask.astype(np.uint8) * 255)
            _write_png(root / "masks" / ignore_rel, np.zeros_like(s.mask, dtype=np.uint8))
            lines["loc"].append(f"{s.image_id},{mask_rel},{ignore_rel}")
    for name, key in (
        ("image_ids.txt", "ids"),
        ("class_labels.txt", "labels"),
        ("image_sizes.txt", "sizes"),
        ("localization.txt", "loc"),
    ):
        (meta / name).write_text("".join(line + "\n" for line in lines[key]))
    return meta


def read_wsol_layout(
    metadata_dir: Path, *, image_root: Path | None = None, mask_root: Path | None = None
) -> WsolMetadata:
    """Read and check one split's metadata; with ``image_root``/``mask_root``, also check that
    every image/mask file exists. Raises :class:`LayoutError` naming the file, line or image id."""
    ids = _lines(metadata_dir, "image_ids.txt")
    if not ids:
        raise LayoutError(f"{metadata_dir / 'image_ids.txt'} lists no image.")
    repeated = [i for i, n in Counter(ids).items() if n > 1]
    if repeated:
        raise LayoutError(f"image_ids.txt lists {repeated[0]!r} more than once.")
    labels = {k: int(v[0]) for k, v in _rows(metadata_dir, "class_labels.txt", (1,), ids).items()}
    _require_all(ids, labels, "class_labels.txt")
    loc_rows = _localization_rows(metadata_dir, ids)
    width = len(next(iter(loc_rows.values()))[0])
    boxes = masks = ignores = None
    if width == 4:
        boxes = {k: [_box(k, r) for r in rows] for k, rows in loc_rows.items()}
    else:
        masks = {k: [r[0] for r in rows] for k, rows in loc_rows.items()}
        ignores = {k: rows[0][1] for k, rows in loc_rows.items()}
    _require_all(ids, loc_rows, "localization.txt")
    sizes: dict[str, tuple[int, int]] = {}
    if boxes is not None or (metadata_dir / "image_sizes.txt").exists():
        sizes = {
            k: (int(v[0]), int(v[1]))
            for k, v in _rows(metadata_dir, "image_sizes.txt", (2,), ids).items()
        }
        _require_all(ids, sizes, "image_sizes.txt")
    metadata = WsolMetadata(metadata_dir, tuple(ids), labels, sizes, boxes, masks, ignores)
    if image_root is not None:
        for image_id in ids:
            if not (image_root / image_id).is_file():
                raise LayoutError(
                    f"No image for image id {image_id!r}: expected {image_root / image_id}."
                )
    if mask_root is not None and masks is not None:
        load_masks(metadata, mask_root)
    return metadata


def heatmap_candidates(heatmap_root: Path, image_id: str) -> list[Path]:
    """Where a heatmap for ``image_id`` may be: ``<id without ext>.npy``, then ``<id>.npy``."""
    return [
        heatmap_root / PurePosixPath(image_id).with_suffix(".npy"),
        heatmap_root / (image_id + ".npy"),
    ]


def load_heatmaps(metadata: WsolMetadata, heatmap_root: Path) -> dict[str, np.ndarray]:
    """Every image's heatmap as a float64 2-D array (raw; normalise it before scoring).

    Refuses, by image id, a missing heatmap, one that is not a 2-D numeric array, and a file
    that needs unpickling (never executed)."""
    heatmaps = {}
    for image_id in metadata.image_ids:
        path = next((p for p in heatmap_candidates(heatmap_root, image_id) if p.is_file()), None)
        if path is None:
            tried = " or ".join(str(p) for p in heatmap_candidates(heatmap_root, image_id))
            raise LayoutError(f"No heatmap for image id {image_id!r}: expected {tried}.")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise LayoutError(
                f"The heatmap of image id {image_id!r} is not a .npy array: {error}"
            ) from error
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise LayoutError(
                f"The heatmap of image id {image_id!r} must be a 2-D numeric array; "
                f"it has shape {array.shape} and dtype {array.dtype}."
            )
        heatmaps[image_id] = array.astype(np.float64)
    return heatmaps


def load_masks(
    metadata: WsolMetadata, mask_root: Path, shape: tuple[int, int] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """(foreground, ignore) boolean masks per image id, the union of an image's instance masks
    (> 0.5 after a nearest-neighbour resize to ``(H, W)`` ``shape``, as ``get_mask``)."""
    if metadata.mask_paths is None or metadata.ignore_paths is None:
        raise LayoutError("This layout has boxes, not masks.")
    foregrounds: dict[str, np.ndarray] = {}
    ignores: dict[str, np.ndarray | None] = {}
    for image_id in metadata.image_ids:
        instances = [
            _mask_file(mask_root, p, image_id, shape) for p in metadata.mask_paths[image_id]
        ]
        foregrounds[image_id] = np.asarray(np.stack(instances).any(axis=0))
        ignore_path = metadata.ignore_paths[image_id]
        ignores[image_id] = (
            _mask_file(mask_root, ignore_path, image_id, shape) if ignore_path else None
        )
    return foregrounds, ignores


def _mask_file(
    root: Path, relative: str, image_id: str, shape: tuple[int, int] | None
) -> np.ndarray:
    path = root / relative
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if mask is None:
        raise LayoutError(f"No readable mask for image id {image_id!r}: expected {path}.")
    mask = mask.astype(np.float32)
    if shape is not None:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask > 0.5


def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(array)):
        raise OSError(f"Could not write {path}.")


def _lines(directory: Path, name: str) -> list[str]:
    path = directory / name
    if not path.is_file():
        raise LayoutError(f"The layout has no {name} (expected {path}).")
    return [line.rstrip("\r") for line in path.read_text().split("\n") if line.strip()]


def _rows(
    directory: Path, name: str, widths: tuple[int, ...], ids: Sequence[str]
) -> dict[str, list[str]]:
    """``{id: fields}`` of a one-line-per-image file, refusing bad widths and unknown ids."""
    known = set(ids)
    rows: dict[str, list[str]] = {}
    for number, line in enumerate(_lines(directory, name), start=1):
        image_id, *fields = line.split(",")
        if len(fields) not in widths:
            raise LayoutError(
                f"{name} line {number}: expected {1 + widths[0]} comma-separated fields."
            )
        if image_id not in known:
            raise LayoutError(
                f"{name} line {number}: image id {image_id!r} is not in image_ids.txt."
            )
        if image_id in rows:
            raise LayoutError(f"{name} line {number}: image id {image_id!r} appears twice.")
        if not all(f.strip().lstrip("-").isdigit() for f in fields):
            raise LayoutError(f"{name} line {number}: {fields} are not whole numbers.")
        rows[image_id] = fields
    return rows


def _localization_rows(directory: Path, ids: Sequence[str]) -> dict[str, list[list[str]]]:
    """``{id: [fields, ...]}``; one line per box (4 numbers) or mask (2 paths), never mixed."""
    known = set(ids)
    rows: dict[str, list[list[str]]] = {}
    width = None
    for number, line in enumerate(_lines(directory, "localization.txt"), start=1):
        image_id, *fields = line.split(",")
        if len(fields) not in (2, 4) or (width is not None and len(fields) != width):
            raise LayoutError(
                f"localization.txt line {number}: expected id,x0,y0,x1,y1 (boxes) or "
                "id,mask_path,ignore_path (masks) on every line."
            )
        width = len(fields)
        if image_id not in known:
            raise LayoutError(
                f"localization.txt line {number}: image id {image_id!r} is not in image_ids.txt."
            )
        rows.setdefault(image_id, []).append(fields)
    if not rows:
        raise LayoutError("localization.txt is empty.")
    return rows


def _box(image_id: str, fields: Sequence[str]) -> Box:
    try:
        x0, y0, x1, y1 = (int(f) for f in fields)
    except ValueError as error:
        raise LayoutError(
            f"localization.txt: the box {fields} of {image_id!r} is not 4 integers."
        ) from error
    if min(x0, y0) < 0 or x1 < x0 or y1 < y0:
        raise LayoutError(
            f"localization.txt: the box {fields} of {image_id!r} is not x0,y0,x1,y1 with "
            "0 <= x0 <= x1 and 0 <= y0 <= y1."
        )
    return x0, y0, x1, y1


def _require_all(ids: Sequence[str], present: Mapping[str, object], name: str) -> None:
    missing = [i for i in ids if i not in present]
    if missing:
        raise LayoutError(
            f"{name} has no line for image id {missing[0]!r}"
            + (f" (nor for {len(missing) - 1} more)." if len(missing) > 1 else ".")
        )
