"""The CoPhy task type's schemas: ``Project.config`` (Config), ``Annotation.value`` (Answers),
and the data layout every part of the app shares.

The human study is **our protocol** (PROTOCOLS.md §3.5): the paper compares CoPhyNet with
people but does not publish how. A participant watches the observed run A → B rendered from
the stored states, then sees the first frame of the counterfactual run, C, with the
intervention highlighted, and predicts its outcome D:

``tower``  block towers: "Will each block move?" (per block present in C) and "Will the tower
           fall?", scored against the "is moving" and "falls" labels of D (§3.4).
``click``  balls and collisions: where the marked object (the one the intervention moved) will
           be at the end, clicked on the ground plane, scored as the distance to its final
           (x, y) in D; and which object it touches first, when the settings ask it.

Conditions (``Config.conditions``): ``observed`` shows A → B before C (CoPhy's setting: the
confounders can be inferred from it); ``counterfactual_only`` shows C alone, the control that
says how much watching A → B helped. Each scene gets one item per condition, all in one item
group (``scene:<example id>``), so nobody sees a scene twice.

The data layout:

``Scene`` (``models.py``)
    One imported example with its arrays exactly as read (both runs' (T, K, 13) states, the
    confounders, colours, gravity, explanation): scoring, the researcher's replay, the exports
    and the model loop read them. Participants never reach them.

Item payload (``Item.payload``)
    ``example_id``, ``scenario``, ``n_objects`` (in A), ``condition``, ``question``
    (``tower`` | ``click``), ``objects`` (the objects present in C: slot, colour, shape and
    label, towers bottom → top), ``removed`` (the slot taken away, or None), ``intervention``
    ({object, kind, delta, description}), ``target`` (click: the marked slot), ``plane``
    ({x: [lo, hi], y: [lo, hi]}: the ground plane shown and where a click may land),
    ``contact_choices`` (click: the answer keys of "touches first"), ``T``, ``K``, and
    ``hidden`` ({confounders, gravity}: for researchers only, never in a participant's page).

Media (``ItemMedia``, served to the participant who holds the assignment)
    ``ab``     the observed run's poses, float32 .npy (T, K, 7): position x, y, z and
               quaternion x, y, z, w; ``duration_s`` = (T − 1) / 5 (5 fps), so the core's
               heard-to-the-end check (``must_play``) applies. Only ``observed`` items have it.
    ``start``  float32 .npy (2, K, 7): A's first frame and C's (C is drawn from it; A gives
               the ghost of a moved or removed object).
    D is never a medium: it would hand the answer to anyone who opens the file.
"""

from __future__ import annotations

import functools
import json
from typing import Literal

import pydantic

from ml.cophy.layout import (
    BALLS_ARENA,
    CUBE_HALF_EXTENT,
    CYLINDER_HEIGHT,
    CYLINDER_RADIUS,
    SPHERE_RADIUS,
    TITLES,
)

Condition = Literal["observed", "counterfactual_only"]
CONDITIONS: tuple[str, ...] = ("observed", "counterfactual_only")
CONDITION_LABELS = {
    "observed": "Watched A → B, then saw C",
    "counterfactual_only": "Saw only C (no A → B)",
}
# Column and bar names (short: they sit side by side).
CONDITION_SHORT = {"observed": "People (saw A → B)", "counterfactual_only": "People (C only)"}

QUESTION_OF_SCENARIO = {"blocktower": "tower", "balls": "click", "collision": "click"}
SCENARIO_TITLES = TITLES
NOTHING = "nothing"  # the "touches nothing" answer of the first-contact question

# Colours as the browser draws them (the palette names of ml.cophy.layout.PALETTES).
COLOR_HEX = {
    "red": "#d62828",
    "green": "#2a9d3f",
    "blue": "#2f6fdb",
    "yellow": "#f2c318",
    "lime": "#9be31c",
    "purple": "#7b3fc4",
    "orange": "#f07f13",
    "cyan": "#1cc6d9",
    "magenta": "#d63ab0",
}

# Sizes of the rendered objects (the states hold centres and orientations only), from
# ml.cophy.layout: unit cubes as in CoPhy's tower generator; spheres and cylinders as Chorus's
# generator makes them. The first-contact truth uses the same radii.
SHAPE_SIZES = {
    "cube": {"half": CUBE_HALF_EXTENT},
    "sphere": {"radius": SPHERE_RADIUS},
    "cylinder_up": {"radius": CYLINDER_RADIUS, "height": CYLINDER_HEIGHT},
    "cylinder_down": {"radius": CYLINDER_RADIUS, "height": CYLINDER_HEIGHT},
}
# The walls balls bounce off (ml/cophy/sim.py: inner faces at ±3, 0.2 thick, 0.6 high), drawn
# so that a bounce is not a mystery.
WALLS = {"balls": {"half": BALLS_ARENA, "thick": 0.2, "height": 0.6}}
SHAPE_NOUNS = {
    "cube": "block",
    "sphere": "ball",
    "cylinder_up": "cylinder",
    "cylinder_down": "cylinder",
}

# The fixed camera of each scenario, world coordinates (z up), degrees of vertical field of
# view: a side view of the tower as in CoPhy's videos, an oblique view from above for balls
# and collisions. It never moves while a scene plays.
CAMERAS = {
    "blocktower": {"position": [0.0, -10.0, 4.4], "target": [0.0, 0.0, 1.8], "fov": 42},
    "balls": {"position": [0.0, -6.4, 8.4], "target": [0.0, -0.3, 0.0], "fov": 45},
    "collision": {"position": [-0.4, -9.0, 8.5], "target": [-0.4, 0.0, 0.3], "fov": 45},
}
PLANE_MIN_HALF = {"blocktower": 4.0, "balls": BALLS_ARENA, "collision": 3.5}
PLANE_MARGIN = 1.5


def _observed_only() -> list[Condition]:
    return ["observed"]


class Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    conditions: list[Condition] = pydantic.Field(
        default_factory=_observed_only,
        title="Conditions",
        description="Each scene is shown once per condition, to different people. "
        "\u201cSaw only C\u201d is the control: without A \u2192 B the hidden masses and "
        "frictions cannot be inferred.",
        json_schema_extra={"choice_labels": dict(CONDITION_LABELS.items())},
    )
    ask_first_contact: bool = pydantic.Field(
        default=True,
        title="Balls and collisions: also ask which object the marked one touches first",
    )
    gold_distance: float = pydantic.Field(
        default=1.0,
        gt=0,
        le=10,
        title="Gold scenes: a click counts as right within this distance",
        description="In the scenes' length unit (a block is 1 wide).",
    )

    @pydantic.field_validator("conditions")
    @classmethod
    def _conditions(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("choose at least one condition")
        if len(set(value)) != len(value):
            raise ValueError("a condition is listed twice")
        return [c for c in CONDITIONS if c in value]


class TowerAnswer(pydantic.BaseModel):
    """``moves``: {colour: will this block move?} for exactly the blocks present in C;
    ``falls``: will the tower fall?"""

    model_config = pydantic.ConfigDict(extra="forbid")
    moves: dict[str, bool]
    falls: bool


class ClickAnswer(pydantic.BaseModel):
    """``x``, ``y``: the clicked final position of the marked object on the ground plane;
    ``first_contact``: the colour of the object it touches first, or ``nothing``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    x: float = pydantic.Field(allow_inf_nan=False)
    y: float = pydantic.Field(allow_inf_nan=False)
    first_contact: str | None = None


ANSWERS: dict[str, type[pydantic.BaseModel]] = {"tower": TowerAnswer, "click": ClickAnswer}


def config_of(project) -> Config:
    """The project's settings, parsed once per distinct config. Read it, never change it."""
    return _parsed(json.dumps(project.config or {}, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _parsed(config_json: str) -> Config:
    return Config.model_validate(json.loads(config_json))
