"""wsolevaluation-layout zips for the explain tests, and the ``explain_project`` fixture."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest

from apps.core.services import project_create
from apps.explain.schemas import Config
from ml.explain import data


def heatmap_for(sample: data.Sample, index: int) -> np.ndarray:
    """A raw map that is neither the mask nor flat: the blurred object, a shifted copy, noise
    and a negative offset, so the four normalisations disagree."""
    rng = np.random.default_rng(index)
    blob = cv2.GaussianBlur(sample.mask.astype(np.float64), (0, 0), 3.0)
    shifted = np.roll(blob, (7, -5), axis=(0, 1)) * 0.6
    return blob + shifted + rng.normal(0, 0.05, blob.shape) - 0.3


def layout_zip(
    n: int = 4, *, masks: bool = False, drop: str | None = None, size: int = 48
) -> tuple[bytes, list[data.Sample], dict[str, np.ndarray]]:
    """(zip bytes, the samples, their raw heatmaps) in the layout under a top folder, as a
    researcher's zipped folder looks; ``drop`` leaves that image id's heatmap out."""
    samples = data.generate("test", n, seed=11, size=size)
    heatmaps = {s.image_id: heatmap_for(s, i) for i, s in enumerate(samples)}
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "my-wsol-run"
        data.write_wsol_layout(
            samples, root, split="test", localization="masks" if masks else "boxes"
        )
        for image_id, heatmap in heatmaps.items():
            if image_id != drop:
                target = root / "heatmaps" / PurePosixPath(image_id).with_suffix(".npy")
                target.parent.mkdir(parents=True, exist_ok=True)
                np.save(target, heatmap)
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(tmp).as_posix())
    return buffer.getvalue(), samples, heatmaps


@pytest.fixture
def explain_project(owner, settings, tmp_path):
    """An explain project of a given design, media under a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"

    def make(design: str = "pairwise", slug: str = "", status: str = "draft", **config):
        return project_create(
            owner=owner,
            slug=slug or f"explain-{design}",
            title=f"Explain {design}",
            task_type="explain",
            config=Config.model_validate({"design": design, **config}).model_dump(mode="json"),
            status=status,
        )

    return make
