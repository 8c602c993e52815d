"""Where the SituatedQA test data lives: the shipped dev subset, and the full release if present."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "apps" / "situatedqa" / "demo"
# The full train/dev release sits beside the checkout on the development machines only (CI has
# just the repository); tests over it skip where it is absent.
FULL = Path(os.environ.get("SITUATEDQA_DATA", REPO.parent / "shared" / "data" / "situatedqa"))

KINDS = [(layout, variant) for layout in ("id", "qa", "raw") for variant in ("temp", "geo")]


def demo_file(layout: str, variant: str) -> Path:
    return DEMO / f"{layout}_data" / f"{variant}.dev.jsonl"


def full_files() -> list[tuple[str, str, Path]]:
    """(layout, variant, path) of every official file of the full release found here."""
    found = []
    for layout, variant in KINDS:
        for split in ("train", "dev", "test"):
            path = FULL / f"{layout}_data" / f"{variant}.{split}.jsonl"
            if path.exists():
                found.append((layout, variant, path))
    return found
