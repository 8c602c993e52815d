"""Small hand-made CoPhy examples for the layout and metric tests (no simulator)."""

from __future__ import annotations

import numpy as np

from ml.cophy.layout import TIMESTEPS, Example, color_lines

IDENTITY = (0.0, 0.0, 0.0, 1.0)  # x, y, z, w


def run(positions: np.ndarray) -> np.ndarray:
    """(T, K, 13) states from (T, K, 3) positions: unit quaternions where present, velocities
    by finite difference at 5 fps, all zeros for absent slots (first position zero)."""
    T, K, _ = positions.shape
    states = np.zeros((T, K, 13), dtype=np.float32)
    states[:, :, :3] = positions
    present = np.abs(positions[0]).sum(-1) > 0
    states[:, present, 3:7] = IDENTITY
    states[1:, :, 7:10] = (positions[1:] - positions[:-1]) * 5.0
    states[:, ~present] = 0.0
    return states


def tower(
    example_id: str = "blocktowerCF/3/1",
    *,
    slots=(0, 1, 2),
    moved: int = 1,
    dx: float = 0.5,
    remove_top: bool = False,
    fall: float = 0.8,
) -> Example:
    """A tower of ``slots`` (bottom → top); in CD, block ``moved`` is displaced by ``dx`` along x
    (or the top block is removed) and the blocks above it slide by ``fall`` over the run."""
    T, K = TIMESTEPS["blocktower"], 4
    ab = np.zeros((T, K, 3), dtype=np.float32)
    for level, k in enumerate(slots):
        ab[:, k] = (0.1 * level, -0.5, 0.5 + level)
    cd = ab.copy()
    if remove_top:
        cd[:, slots[-1]] = 0.0
    else:
        cd[:, slots[moved]] += (dx, 0.0, 0.0)
        ramp = np.linspace(0.0, fall, T, dtype=np.float32)
        for k in slots[moved + 1 :]:
            cd[:, k, 0] += ramp
            cd[:, k, 2] -= ramp / 2
    lines = color_lines("blocktower", slots)
    cd_lines = lines[:-1] if remove_top else lines
    confounders = np.zeros((K, 2), dtype=np.float32)
    confounders[list(slots)] = (10.0, 0.5)
    return Example(
        example_id=example_id,
        scenario="blocktower",
        ab=run(ab),
        cd=run(cd),
        confounders=confounders,
        colors=lines,
        colors_cd=cd_lines,
        gravity=(0.5, 0.0),
    )


def balls(example_id: str = "ballsCF/2/7", *, shift=(0.0, 1.0)) -> Example:
    """Two balls rolling on the floor; in CD, ball 0 starts ``shift`` further."""
    T, K = TIMESTEPS["balls"], 9
    t = np.arange(T, dtype=np.float32)[:, None]
    ab = np.zeros((T, K, 3), dtype=np.float32)
    ab[:, 0] = np.hstack([1.0 + 0.1 * t, 2.0 + 0 * t, 0.2 + 0 * t])
    ab[:, 3] = np.hstack([-1.0 + 0 * t, -2.0 + 0.05 * t, 0.2 + 0 * t])
    cd = ab.copy()
    cd[:, 0, :2] += shift
    confounders = np.zeros((K, 3), dtype=np.float32)
    confounders[[0, 3]] = (2.0, 0.5, 1.0)
    lines = color_lines("balls", (0, 3))
    return Example(
        example_id=example_id,
        scenario="balls",
        ab=run(ab),
        cd=run(cd),
        confounders=confounders,
        colors=lines,
        colors_cd=lines,
        explanation="The red ball was moved by 1.0 along y.",
    )
