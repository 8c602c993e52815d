"""CoPhy records for training and prediction, the held-out split, and batches as tensors.

**A record** is one of

* an :class:`~ml.cophy.layout.Example`;
* a path (``str`` or ``Path``) to an example folder in the official layout;
* a mapping ``{"example_id", "scenario", "ab", "cd"}`` with ``ab``/``cd`` the (T, K, 13)
  states as arrays or nested lists (``confounders`` etc. are not needed: the model never
  sees them), or ``{"path": <example folder>}``.

Any of them may carry ``"split": "train" | "val" | "test"`` (a mapping key; the official
split files' assignment, for instance): a named split wins over the seeded one; ``test``
counts as held out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.config import TrainingError

from .layout import POSITION, SCENARIOS, STATE_DIM, TIMESTEPS, Example, presence, read_example
from .metrics import DIMS, is_moving

Record = Example | str | Path | Mapping[str, Any]


@dataclass(frozen=True)
class Item:
    example: Example
    split: str | None = None  # train | val | test, when the record named one


def _from_mapping(row: Mapping[str, Any]) -> Example:
    if "path" in row:
        return read_example(row["path"])
    try:
        scenario = str(row["scenario"])
        ab = np.asarray(row["ab"], dtype=np.float32)
        cd = np.asarray(row["cd"], dtype=np.float32)
        example_id = str(row["example_id"])
    except KeyError as exc:
        raise TrainingError(f"A CoPhy record lacks {exc.args[0]!r}.") from exc
    if scenario not in SCENARIOS:
        raise TrainingError(f"{example_id}: unknown scenario {scenario!r}.")
    T = TIMESTEPS[scenario]
    for name, states in (("ab", ab), ("cd", cd)):
        if states.ndim != 3 or states.shape[0] != T or states.shape[2] != STATE_DIM:
            raise TrainingError(
                f"{example_id}: {name} has shape {states.shape}, expected ({T}, K, {STATE_DIM})."
            )
        if not np.isfinite(states).all():
            raise TrainingError(f"{example_id}: {name} is not finite.")
    if ab.shape != cd.shape:
        raise TrainingError(f"{example_id}: ab {ab.shape} and cd {cd.shape} differ in shape.")
    K = ab.shape[1]
    confounders = np.asarray(row.get("confounders", np.zeros((K, 0))), dtype=np.float32)
    return Example(example_id, scenario, ab, cd, confounders, (), ())


def as_items(records: Iterable[Record]) -> list[Item]:
    items = []
    for record in records:
        split = None
        if isinstance(record, Example):
            example = record
        elif isinstance(record, str | Path):
            example = read_example(record)
        else:
            example = _from_mapping(record)
            split = record.get("split")
            if split not in (None, "train", "val", "test"):
                raise TrainingError(f"{example.example_id}: split must be train, val or test.")
        items.append(Item(example, split))
    return items


def group_key(example: Example) -> tuple[str, int]:
    return example.scenario, example.n_objects


def split_items(
    items: Sequence[Item], *, val_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(train, held out): named splits as given; the rest a seeded ``val_fraction`` of each
    (scenario, object count) group, at least one per group of two or more."""
    train = [i.example for i in items if i.split == "train"]
    held = [i.example for i in items if i.split in ("val", "test")]
    groups: dict[tuple[str, int], list[Example]] = {}
    for item in items:
        if item.split is None:
            groups.setdefault(group_key(item.example), []).append(item.example)
    rng = random.Random(seed)
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda e: e.example_id)
        rng.shuffle(members)
        n_val = round(len(members) * val_fraction) if len(members) >= 2 else 0
        if val_fraction > 0 and len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        held.extend(members[:n_val])
        train.extend(members[n_val:])
    return train, held


@dataclass
class Batch:
    """One scenario's examples as tensors (T and K are the scenario's)."""

    scenario: str
    ids: list[str]
    ab: torch.Tensor  # (B, T, K, 3) observed positions
    present_ab: torch.Tensor  # (B, K)
    c: torch.Tensor  # (B, K, 3) C's positions
    present_cd: torch.Tensor  # (B, K)
    target: torch.Tensor  # (B, T−1, K, 3) D's positions
    moving: torch.Tensor  # (B, T−1, K) is-moving labels of D
    kind: torch.Tensor  # (B, S) one-hot scenario
    dims: torch.Tensor  # (3,) 1 for the coordinates the metric scores

    @property
    def steps(self) -> int:
        return self.target.shape[1]

    def to(self, device: torch.device) -> Batch:
        moved: dict[str, Any] = {
            k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()
        }
        return Batch(**moved)


def make_batch(examples: Sequence[Example]) -> Batch:
    scenario = examples[0].scenario
    if any(e.scenario != scenario for e in examples):
        raise ValueError("A batch holds one scenario.")
    ab = np.stack([e.ab[:, :, POSITION] for e in examples])
    cd = np.stack([e.cd[:, :, POSITION] for e in examples])
    moving = np.stack([is_moving(e.cd, scenario)[1:] for e in examples])
    kind = np.zeros((len(examples), len(SCENARIOS)), dtype=np.float32)
    kind[:, SCENARIOS.index(scenario)] = 1.0
    dims = np.zeros(3, dtype=np.float32)
    dims[: DIMS[scenario]] = 1.0
    return Batch(
        scenario=scenario,
        ids=[e.example_id for e in examples],
        ab=torch.from_numpy(ab),
        present_ab=torch.from_numpy(np.stack([presence(e.ab) for e in examples])),
        c=torch.from_numpy(cd[:, 0].copy()),
        present_cd=torch.from_numpy(np.stack([presence(e.cd) for e in examples])),
        target=torch.from_numpy(cd[:, 1:].copy()),
        moving=torch.from_numpy(moving),
        kind=torch.from_numpy(kind),
        dims=torch.from_numpy(dims),
    )


def batches(
    examples: Sequence[Example], size: int, generator: torch.Generator | None = None
) -> list[Batch]:
    """Batches of at most ``size`` examples of one scenario each; shuffled with ``generator``
    (within and across scenarios), in order without."""
    by_scenario: dict[str, list[Example]] = {}
    for example in examples:
        by_scenario.setdefault(example.scenario, []).append(example)
    chunks: list[list[Example]] = []
    for scenario in SCENARIOS:
        members = by_scenario.get(scenario, [])
        if generator is not None:
            members = [members[i] for i in torch.randperm(len(members), generator=generator)]
        chunks.extend(members[i : i + size] for i in range(0, len(members), size))
    if generator is not None:
        chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]
    return [make_batch(chunk) for chunk in chunks]
