"""The classifier behind a text study's attributions, kept with the project for faithfulness.

ERASER's comprehensiveness and sufficiency ask the model itself how its confidence moves when
a rationale is removed or kept alone, and people's rationales arrive only after the import.
So the classifier that produced the attributions is stored with the project — a humor
checkpoint (``ml.humor.predict.Predictor`` reads it), zipped into one file of Django's
default storage and named in ``project.derived["text_model"]`` — and the results job (on the
worker, once per change of the answers; never per page view) loads it once per process.

A study whose posts were imported with their scores has no model: its results show the
plausibility and agreement numbers, and say why faithfulness is missing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.models import Project

log = logging.getLogger(__name__)

MODELS_DIR = "explain/text-models"
PredictProba = Callable[[Sequence[str]], np.ndarray]


@contextlib.contextmanager
def one_torch_thread():
    """A small text model's operators are far too small to share out: on shared cores torch's
    spinning worker threads made the text demo five times slower than one thread does."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def text_model_store(*, project: Project, model, tokenizer, title: str, max_length: int) -> str:
    """Store ``model`` (an ``EncoderHead`` classifier) as the project's text model."""
    from ml.common import save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        config = {
            "kind": "humor",
            "num_outputs": 2,
            "train_config": {"max_length": max_length},
            "title": title,
        }
        save_checkpoint(out, model, config)
        model.encoder.config.save_pretrained(out / "encoder")
        tokenizer.save_pretrained(out / "encoder")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in out.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(out).as_posix())
    content = buffer.getvalue()
    digest = hashlib.sha256(content).hexdigest()[:12]
    name = default_storage.save(f"{MODELS_DIR}/{project.pk}-{digest}.zip", ContentFile(content))
    before = (project.derived or {}).get("text_model", {}).get("file")
    project.derived = {
        **(project.derived or {}),
        "text_model": {"file": name, "title": title, "max_length": max_length},
    }
    project.save(update_fields=["derived"])
    if before and before != name:
        default_storage.delete(before)
    return name


@functools.lru_cache(maxsize=4)
def _loaded(name: str) -> PredictProba:
    """``predict_proba`` of the stored model ``name`` (a storage name changes with its bytes)."""
    import torch

    from ml.explain_text.attributions import proba_fn
    from ml.humor.predict import Predictor

    with default_storage.open(name, "rb") as handle:
        content = handle.read()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(io.BytesIO(content)) as archive:
        for member in archive.namelist():
            path = PurePosixPath(member)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{name}: the entry {member!r} leaves the model folder.")
        archive.extractall(tmp)
        predictor = Predictor(Path(tmp), torch.device("cpu"))
    return proba_fn(predictor.model, predictor.tokenizer, max_length=predictor.max_length)


def text_model_proba(project: Project) -> tuple[PredictProba | None, str]:
    """The project's text model as ``predict_proba(texts)``, and its title — or None and the
    reason there is none, in words for the results page."""
    info = (project.derived or {}).get("text_model")
    if not info:
        return None, (
            "Faithfulness needs the classifier the attributions came from; these posts were "
            "imported with their scores and no model, so it is not computed."
        )
    try:
        return _loaded(info["file"]), info.get("title", "the stored classifier")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.exception("Could not load the text model of project %s", project.pk)
        return None, f"The stored classifier could not be loaded ({exc}); faithfulness is missing."
