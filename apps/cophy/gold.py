"""Gold scenes: examples whose outcome is obvious, built by hand rather than simulated.

Everything rests: a straight tower of unit cubes on flat ground without gravity tilt, or balls
(and a cylinder) lying still far apart. The observed run shows nothing moving; the
intervention (the top block removed or nudged, a resting ball moved) cannot start anything,
so D is C held still. Exact arrays, no physics engine: a resting body stays at rest, whatever
its hidden mass or friction. A participant who answers "it falls" or clicks far from where the
ball was put has not looked.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ml.cophy.layout import (
    CONFOUNDERS,
    FOLDERS,
    PALETTES,
    STATE_DIM,
    TIMESTEPS,
    Example,
    color_lines,
    describe_intervention,
)

IDENTITY = (0.0, 0.0, 0.0, 1.0)


def _still(scenario: str, positions: dict[int, tuple[float, float, float]]) -> np.ndarray:
    """(T, K, 13) states of bodies resting at ``positions`` (slot → x, y, z)."""
    K = len(PALETTES[scenario])
    states = np.zeros((TIMESTEPS[scenario], K, STATE_DIM), dtype=np.float32)
    for slot, position in positions.items():
        states[:, slot, 0:3] = position
        states[:, slot, 3:7] = IDENTITY
    return states


def _confounders(scenario: str, K: int) -> np.ndarray:
    values = {"mass": 1.0, "friction": 0.5, "restitution": 0.5}
    return np.array([[values[c] for c in CONFOUNDERS[scenario]]] * K, dtype=np.float32)


def resting_tower(name: str, *, blocks: int = 3, change: str = "remove") -> Example:
    """A straight tower; C removes the top block (``remove``) or nudges it by 0.1 (``nudge``)."""
    slots = list(range(blocks))
    a = {k: (0.0, 0.0, 0.5 + k) for k in slots}
    c = dict(a)
    if change == "remove":
        del c[slots[-1]]
    else:
        x, y, z = c[slots[-1]]
        c[slots[-1]] = (x + 0.1, y, z)
    K = len(PALETTES["blocktower"])
    return Example(
        example_id=f"{FOLDERS['blocktower']}/{blocks}/{name}",
        scenario="blocktower",
        ab=_still("blocktower", a),
        cd=_still("blocktower", c),
        confounders=_confounders("blocktower", K),
        colors=color_lines("blocktower", a),
        colors_cd=color_lines("blocktower", c),
        gravity=(0.0, 0.0),
    )


def _with_words(example: Example) -> Example:
    return dataclasses.replace(example, explanation=describe_intervention(example))


def resting_balls(name: str, *, balls: int = 3, shift: float = 0.8) -> Example:
    """Balls lying still on a circle of radius 2; C moves the first one by ``shift`` along x."""
    angles = np.linspace(0, 2 * np.pi, balls, endpoint=False)
    a = {k: (round(2 * np.cos(t), 3), round(2 * np.sin(t), 3), 0.3) for k, t in enumerate(angles)}
    c = dict(a)
    x, y, z = c[0]
    c[0] = (x + shift, y, z)
    K = len(PALETTES["balls"])
    example = Example(
        example_id=f"{FOLDERS['balls']}/{balls}/{name}",
        scenario="balls",
        ab=_still("balls", a),
        cd=_still("balls", c),
        confounders=_confounders("balls", K),
        colors=color_lines("balls", a),
        colors_cd=color_lines("balls", c),
    )
    return _with_words(example)


def resting_collision(name: str, *, shift: float = -0.8) -> Example:
    """A sphere and a standing cylinder 3 apart, both still; C moves the sphere along x."""
    sphere, cylinder = 0, 2  # yellow sphere, blue cylinder
    a = {sphere: (-1.5, 0.0, 0.3), cylinder: (1.5, 0.0, 0.6)}
    c = dict(a)
    c[sphere] = (-1.5 + shift, 0.0, 0.3)
    types = {sphere: "sphere", cylinder: "cylinder_up"}
    K = len(PALETTES["collision"])
    example = Example(
        example_id=f"{FOLDERS['collision']}/{name}",
        scenario="collision",
        ab=_still("collision", a),
        cd=_still("collision", c),
        confounders=_confounders("collision", K),
        colors=color_lines("collision", a, types),
        colors_cd=color_lines("collision", c, types),
    )
    return _with_words(example)


def demo_gold() -> list[Example]:
    """The demo's gold scenes: two towers, two ball scenes, one collision."""
    return [
        resting_tower("gold-1", blocks=3, change="remove"),
        resting_tower("gold-2", blocks=4, change="nudge"),
        resting_balls("gold-3", balls=3),
        resting_balls("gold-4", balls=4, shift=-0.7),
        resting_collision("gold-5"),
    ]
