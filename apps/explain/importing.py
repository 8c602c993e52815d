"""A researcher's own images and heatmaps, uploaded as one zip in the wsolevaluation layout.

The zip holds, beside each other (at its top, or inside the one folder it was made from):

``metadata/<DATASET>/<split>/``  ``image_ids.txt``, ``class_labels.txt``, ``image_sizes.txt``,
                                 ``localization.txt`` (boxes, or mask paths as OpenImages) and,
                                 optionally, ``class_names.txt`` (``label,name``); the folder is
                                 wherever ``image_ids.txt`` is
``images/<image id>``            the images (PNG or JPEG)
``heatmaps/<image id>.npy``      one raw 2-D map per image (``<id without ext>.npy`` or
                                 ``<id>.npy``, as ``ml.explain.data.load_heatmaps`` reads them)
``masks/<mask path>``            the masks a mask layout names

Everything is read and checked before anything is stored (``ml.explain.data``); a missing or
bad heatmap, image or mask is refused by its image id and nothing is imported.
"""

from __future__ import annotations

import io
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

import cv2
import numpy as np

from apps.core.models import Project
from apps.core.registry import ImportReport
from apps.core.ziputil import max_unpacked_bytes
from ml.explain import data
from ml.explain.wsol import rescale_box

from . import images, services

NOTHING_IMPORTED = "Nothing was imported: fix the files named above and upload again."


class _Refused(ValueError):
    pass


def layout_import(*, project: Project, upload: IO[bytes]) -> ImportReport:
    """Import a wsolevaluation-layout zip into ``project``: every image, or nothing."""
    report = ImportReport()
    try:
        with tempfile.TemporaryDirectory(prefix="chorus-wsol-") as tmp:
            root = _unpack(upload, Path(tmp))
            records = _records(root)
            report.created = services.images_store(project=project, records=records)
    except (_Refused, data.LayoutError) as exc:
        report.error(0, str(exc))
        report.notes.append(NOTHING_IMPORTED)
        return report
    report.notes.append(f"{len(records)} images, each with its map under 4 normalisations.")
    return report


def _unpack(upload: IO[bytes], target: Path) -> Path:
    """Extract the zip after checking every entry; returns the folder holding ``images/``."""
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _Refused(
            f"{getattr(upload, 'name', 'upload')}: not a valid zip file. Upload a zip in the "
            "wsolevaluation layout (metadata, images/, heatmaps/)."
        ) from exc
    with archive:
        total = 0
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith("/") or "\\" in info.filename or ".." in parts:
                raise _Refused(f"{info.filename}: entries may not point outside the zip.")
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _Refused(f"{info.filename}: symbolic links are not allowed in the zip.")
            total += info.file_size
            if total > max_unpacked_bytes():
                raise _Refused(f"The zip unpacks to more than {max_unpacked_bytes() // 2**20} MB.")
        archive.extractall(target)
    found = sorted(p for p in target.rglob("images") if p.is_dir())
    if not found:
        raise _Refused("The zip has no images/ folder (the layout's image root).")
    return min(found, key=lambda p: len(p.parts)).parent


def _metadata_dir(root: Path) -> Path:
    found = sorted(root.rglob("image_ids.txt"), key=lambda p: len(p.parts))
    if not found:
        raise _Refused("The zip has no image_ids.txt (metadata/<DATASET>/<split>/image_ids.txt).")
    return found[0].parent


def _class_names(meta_dir: Path) -> dict[int, str]:
    path = meta_dir / "class_names.txt"
    if not path.is_file():
        return {}
    names = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        label, _, name = line.partition(",")
        if not label.strip().isdigit() or not name.strip():
            raise _Refused(f"class_names.txt line {number}: expected label,name.")
        names[int(label)] = name.strip()
    return names


def _records(root: Path) -> list[services.ImageRecord]:
    meta_dir = _metadata_dir(root)
    mask_root = root / "masks"
    metadata = data.read_wsol_layout(
        meta_dir, image_root=root / "images", mask_root=mask_root if mask_root.is_dir() else None
    )
    if metadata.kind == "masks" and not mask_root.is_dir():
        raise _Refused("localization.txt names masks, but the zip has no masks/ folder.")
    heatmaps = data.load_heatmaps(metadata, root / "heatmaps")
    masks, ignores = data.load_masks(metadata, mask_root) if metadata.kind == "masks" else ({}, {})
    names = _class_names(meta_dir)
    return [
        _record(root, metadata, image_id, heatmaps[image_id], masks, ignores, names)
        for image_id in metadata.image_ids
    ]


def _record(root, metadata, image_id, heatmap, masks, ignores, names) -> services.ImageRecord:
    path = root / "images" / image_id
    try:
        rgb = images.read_rgb(path.read_bytes(), image_id)
    except ValueError as exc:
        raise _Refused(f"Image id {image_id!r}: {exc}") from exc
    height, width = rgb.shape[:2]
    map_shape = heatmap.shape
    label = metadata.class_labels[image_id]
    mask = ignore = None
    if metadata.kind == "boxes":
        stated = metadata.image_sizes[image_id]
        boxes = [list(rescale_box(b, stated, (width, height))) for b in metadata.boxes[image_id]]
        map_boxes = [list(b) for b in metadata.boxes_for(image_id, map_shape)]
    else:
        if not masks[image_id].any():
            raise _Refused(f"The mask of image id {image_id!r} is empty.")
        mask = _resized(masks[image_id], map_shape)
        ignore = None if ignores[image_id] is None else _resized(ignores[image_id], map_shape)
        boxes = [list(data.mask_box(_resized(masks[image_id], (height, width))))]
        map_boxes = [list(data.mask_box(mask))]
    return services.ImageRecord(
        image_id=image_id,
        rgb=rgb,
        class_id=label,
        class_name=names.get(label, f"class {label}"),
        boxes=boxes,
        cam=heatmap,
        map_boxes=map_boxes,
        mask=mask,
        ignore=ignore,
    )


def _resized(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask
    resized = cv2.resize(
        mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST
    )
    return resized > 0


# --- the sample on the Data tab -------------------------------------------------------------

SAMPLE_IMAGES = 3


def sample_zip_bytes(*, drop_heatmap: str | None = None) -> bytes:
    """A small upload in the layout: 3 generated images with boxes and blurred-mask heatmaps
    (``drop_heatmap``: leave that image id's heatmap out, as a broken upload would)."""
    samples = data.generate("test", SAMPLE_IMAGES, seed=3, size=48)
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="chorus-wsol-sample-") as tmp:
        root = Path(tmp)
        meta = data.write_wsol_layout(samples, root, split="test")
        (meta / "class_names.txt").write_text(
            "".join(f"{n},{name}\n" for n, name in enumerate(data.class_names(4)))
        )
        for s in samples:
            if s.image_id == drop_heatmap:
                continue
            heatmap = cv2.GaussianBlur(s.mask.astype(np.float64), (0, 0), 4.0)
            target = root / "heatmaps" / PurePosixPath(s.image_id).with_suffix(".npy")
            target.parent.mkdir(parents=True, exist_ok=True)
            np.save(target, heatmap)
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


def sample_image_ids() -> list[str]:
    return [s.image_id for s in data.generate("test", SAMPLE_IMAGES, seed=3, size=48)]
