"""Humor records and the 80:20 split.

A record is one post as exported by the platform: ``item_id``, ``text``, ``hs`` (humor score),
``reaction_label`` ("humorous" | "non_humorous" | None), ``split`` ("train" | "test" | None)
and optionally ``human_label`` ("yes" | "no", the annotators' aggregate).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REACTION_POSITIVE = "humorous"
REACTION_NEGATIVE = "non_humorous"


@dataclass(frozen=True)
class HumorRecord:
    item_id: int
    text: str
    hs: float | None = None
    reaction_label: str | None = None
    split: str | None = None
    human_label: str | None = None

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> HumorRecord:
        hs = row.get("hs")
        try:
            hs = float(hs) if hs is not None and hs != "" else None
        except (TypeError, ValueError):
            hs = None
        if hs is not None and not math.isfinite(hs):
            hs = None
        reaction = row.get("reaction_label")
        split = row.get("split")
        return cls(
            item_id=int(row["item_id"]),
            text=str(row.get("text") or ""),
            hs=hs,
            reaction_label=reaction if reaction in (REACTION_POSITIVE, REACTION_NEGATIVE) else None,
            split=split if split in ("train", "test") else None,
            human_label=row.get("human_label") if row.get("human_label") in ("yes", "no") else None,
        )


@dataclass(frozen=True)
class Example:
    item_id: int
    text: str
    target: float  # class index (binary) or HS (continuous)
    label: int | None  # the binary label for F1/AUC, when known


def binary_label(record: HumorRecord, source: str) -> int | None:
    """1 = humorous, 0 = not, None = unknown, from ``reaction``, ``human`` or ``both`` labels.

    ``both`` takes the human label where annotators answered, else the reaction label.
    """
    human = {"yes": 1, "no": 0}.get(record.human_label or "")
    reaction = {REACTION_POSITIVE: 1, REACTION_NEGATIVE: 0}.get(record.reaction_label or "")
    if source == "human":
        return human
    if source == "both":
        return human if human is not None else reaction
    return reaction


def split_records(
    records: Iterable[HumorRecord], *, test_fraction: float, seed: int
) -> tuple[list[HumorRecord], list[HumorRecord]]:
    """Respect each record's ``split``; put the rest 80:20 (seeded, by item id) into train/test."""
    train, test, unsplit = [], [], []
    for record in records:
        {"train": train, "test": test}.get(record.split or "", unsplit).append(record)
    unsplit.sort(key=lambda r: r.item_id)
    random.Random(seed).shuffle(unsplit)
    n_test = round(len(unsplit) * test_fraction)
    test.extend(unsplit[:n_test])
    train.extend(unsplit[n_test:])
    return train, test


def to_examples(records: Sequence[HumorRecord], *, target: str, label_source: str) -> list[Example]:
    """Examples with a known target: the binary label, or HS for the continuous model."""
    examples = []
    for record in records:
        label = binary_label(record, label_source)
        if target == "binary":
            if label is None:
                continue
            examples.append(Example(record.item_id, record.text, float(label), label))
        else:
            if record.hs is None:
                continue
            examples.append(Example(record.item_id, record.text, record.hs, label))
    return examples


def cap(examples: list[Example], max_samples: int | None, seed: int) -> list[Example]:
    """A seeded random subset of at most ``max_samples`` examples (all when None)."""
    if max_samples is None or len(examples) <= max_samples:
        return examples
    return random.Random(seed + 1).sample(examples, max_samples)
