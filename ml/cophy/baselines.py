"""The copying baselines of CoPhy (PROTOCOLS.md §3.4); both predict D's positions t = 1..T−1.

* **Copy C** — every object stays where the intervention put it: C's pose repeated for the
  T−1 steps (the official ``run_copying_baselines.sh``; here from the true C, which is what
  the copy of a perfect de-rendering gives).
* **Copy B** — the counterfactual outcome is the observed one: B's trajectory t = 1..T−1
  copied slot by slot. The paper names this baseline without defining it [U]; this
  definition is ours. An object absent from CD (the removed block) is masked out of the
  metric anyway; an object that C moved keeps B's positions, not B shifted by the move.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .layout import POSITION, Example
from .metrics import mean_mse


def copy_c(example: Example) -> np.ndarray:
    """(T−1, K, 3): C's positions repeated."""
    start = example.cd[0, :, POSITION]
    return np.repeat(start[None], example.T - 1, axis=0).astype(np.float32)


def copy_b(example: Example) -> np.ndarray:
    """(T−1, K, 3): B's positions t = 1..T−1."""
    return example.ab[1:, :, POSITION].astype(np.float32).copy()


BASELINES: dict[str, Callable[[Example], np.ndarray]] = {"copy_c": copy_c, "copy_b": copy_b}
TITLES = {"copy_c": "Copy C", "copy_b": "Copy B"}


def baseline_mse(examples: Sequence[Example]) -> dict[str, float | None]:
    """Mean trajectory MSE of each baseline over ``examples`` (one scenario's, usually)."""
    return {
        name: mean_mse([baseline(e) for e in examples], examples)
        for name, baseline in BASELINES.items()
    }
