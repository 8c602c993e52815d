"""Self-describing checkpoints: weights in safetensors beside the JSON config that built them.

Loading never unpickles anything (no ``torch.load``), so a checkpoint from an untrusted
place cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"
CONFIG = "chorus_config.json"


def save_checkpoint(directory: Path, model: torch.nn.Module, config: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``config`` (JSON-serialisable) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or non-contiguous storage; a copy per tensor is cheap here.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(directory / WEIGHTS), metadata={"format": "pt"})
    (directory / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    return directory


def read_config(directory: Path) -> dict[str, Any]:
    path = directory / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: not a Chorus checkpoint.")
    return json.loads(path.read_text())


def load_checkpoint(directory: Path, model: torch.nn.Module, device: torch.device) -> None:
    """Load weights from ``directory`` into ``model`` (built from :func:`read_config`)."""
    state = load_file(str(directory / WEIGHTS), device=str(device))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"Checkpoint in {directory} does not fit the model: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}."
        )
