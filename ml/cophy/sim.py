"""CoPhy scenes simulated with PyBullet: an observed run AB and a counterfactual run CD from
do(X₀ = C), under the same hidden confounders (PROTOCOLS.md §3.2).

**Physics, fixed per scenario** (DIRECT mode, a fresh physics client per run, so a run
depends on its inputs only): one output frame every 0.2 s (5 fps); towers 48 internal
sub-steps of 1/240 s, balls and collision 24 of 1/120 s; 50 solver iterations, deterministic
overlapping pairs, sleeping enabled (a settled stack stops jittering instead of drifting
towards the 0.05 threshold). Gravity is ``(gravity_x, gravity_y, −10)`` as in the official
generator (``gravity_xy + [-10]``), so the tilts ±0.5 are the official scale. Sizes are the
official ones for towers (unit cubes, centres at z = level + 0.5, δ ∈ ±[0.10, 2.00] step
0.05 in cube widths); ours for the rest.

**Block towers** follow ``data_generation/create_blocktwer_examples.py``:

1. a target pair (stable_AB, stable_CD) is set: :func:`generate` cycles through the four
   pairs within each tower height, so a set is balanced (the official script draws it);
2. a random tower A (each block shifted from the one above by a random walk in [−0.6, 0.6),
   random yaw) is kept only if its stability is *ambiguous* over five sampled confounder
   configurations (some stand, some fall);
3. C is searched: a random block, the four directions ±x/±y in random order (with
   probability 0.3 "remove the top block" tried first), δ ascending. C is accepted when its
   stability also varies over the configurations, its pattern differs from AB's, and some
   configuration gives the target pair; that configuration becomes the example's
   confounders. A direction is given up once every configuration that could give a
   standing target falls (the official script: once every configuration falls);
4. AB and CD are simulated for 6 s with it.

Stability is :func:`ml.cophy.metrics.tower_falls` on the full run, for the search and the
result alike, so the written arrays carry exactly the labels the search chose.

**Collision** (ours; the official generators for balls and collision are not published): a
sphere rolls at 3–5 m/s towards a standing (``cylinder_up``) or lying (``cylinder_down``)
cylinder; the intervention moves the sphere or the cylinder by δ ∈ ±{0.1, 0.2, …, 1.0}
along x or y. The towers' rules apply with "the cylinder stays put" (final shift < 0.05)
as the stability label: ambiguous over the configurations in AB and in CD, different
patterns, a configuration giving the (cycled) target pair.

**Balls** (ours): 2–6 balls of radius 0.3 in a walled 6 × 6 arena, each launched at
1.5–3 m/s; the intervention moves one ball by a δ ∈ ±[0.10, 1.50] along x or y, tried in
random order. Every ball moves, so there is no stability label to balance; A and C are
accepted when the outcome depends on the hidden confounders: over the five configurations
some ball's final position spreads by at least :data:`SPREAD`, so D cannot be read off C
without inferring the confounders from AB. The chosen configuration is a random one.

Lateral friction is the friction confounder; for balls and spheres the rolling resistance
is ``0.02 · friction`` so friction also shows in how fast a ball slows down.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import pybullet as pb

from .layout import (
    BALLS_ARENA,
    CONFOUNDERS,
    CUBE_HALF_EXTENT,
    CYLINDER_HEIGHT,
    CYLINDER_RADIUS,
    FOLDERS,
    OBJECT_COUNTS,
    PALETTES,
    SPHERE_RADIUS,
    TIMESTEPS,
    Example,
    color_lines,
    describe_intervention,
    write_example,
)
from .metrics import tower_falls

SUBSTEPS = 48  # of 1/240 s per 0.2 s frame (stacks need it)
ROLLING_SUBSTEPS = 24  # of 1/120 s: balls and collisions roll, nothing rests on anything
SOLVER_ITERATIONS = 50
GRAVITY_Z = -10.0
N_CONFIGURATIONS = 5
MAX_ATTEMPTS = 400  # A towers (or initial scenes) tried for one example before giving up
SPREAD = 0.25  # balls / collision: the confounders must move some final position this much
FALLEN = 1.0  # a run whose summed position shift passes this has fallen for good: stop early

MASSES = {"blocktower": (1.0, 10.0), "balls": (1.0, 2.0, 5.0), "collision": (1.0, 2.0, 5.0)}
FRICTIONS = {"blocktower": (0.5, 1.0), "balls": (0.1, 0.5, 1.0), "collision": (0.1, 0.5, 1.0)}
RESTITUTIONS = (0.1, 0.5, 1.0)
GRAVITY_TILTS = (-0.5, 0.0, 0.5)
DELTAS_UP = tuple(round(0.10 + 0.05 * i, 2) for i in range(39))  # 0.10 … 2.00
REMOVE_FIRST = 0.3
RADIUS = SPHERE_RADIUS  # balls and the collision sphere
ARENA = BALLS_ARENA

ProgressFn = Callable[[float, str], bool]


class GenerationError(RuntimeError):
    """No example satisfying the constraints was found within the attempt budget."""


@dataclass(frozen=True)
class Body:
    slot: int
    shape: str  # cube | sphere | cylinder_up | cylinder_down
    position: tuple[float, float, float]
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)  # x, y, z, w
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def moved(self, axis: int, delta: float) -> Body:
        p = list(self.position)
        p[axis] += delta
        return Body(self.slot, self.shape, (p[0], p[1], p[2]), self.orientation, self.velocity)


@dataclass(frozen=True)
class Configuration:
    """Hidden confounders: per slot (mass, friction, restitution), and the gravity tilt."""

    objects: dict[int, tuple[float, float, float]]
    gravity: tuple[float, float] = (0.0, 0.0)

    def to_json(self) -> dict:
        return {
            "objects": {str(k): list(v) for k, v in self.objects.items()},
            "gravity": list(self.gravity),
        }


@dataclass
class Generation:
    """How one example was chosen (written beside it as ``generation.json``)."""

    seed: list[int]
    target: list[bool] | None  # (stable_AB, stable_CD) for towers and collision
    configurations: list[dict]
    labels_ab: list  # per configuration: stable (bool) or the final positions' summary
    labels_cd: list
    chosen: int
    intervention: dict
    attempts: int
    simulations: int = 0  # PyBullet runs the search and the result took


@dataclass
class GenerateResult:
    examples: list[Example]
    generations: list[Generation]
    seconds: float
    simulations: int = 0
    folders: list[Path] = field(default_factory=list)

    @property
    def examples_per_second(self) -> float:
        return len(self.examples) / self.seconds if self.seconds > 0 else float("inf")


# ---------------------------------------------------------------- one simulation


def _shape(client: int, shape: str) -> int:
    if shape == "cube":
        return pb.createCollisionShape(
            pb.GEOM_BOX, halfExtents=[CUBE_HALF_EXTENT] * 3, physicsClientId=client
        )
    if shape == "sphere":
        return pb.createCollisionShape(pb.GEOM_SPHERE, radius=RADIUS, physicsClientId=client)
    return pb.createCollisionShape(
        pb.GEOM_CYLINDER, radius=CYLINDER_RADIUS, height=CYLINDER_HEIGHT, physicsClientId=client
    )


def simulate(
    bodies: list[Body],
    config: Configuration,
    T: int,
    K: int,
    *,
    walls: float | None = None,
    stop_when_fallen: bool = False,
    substeps: int = SUBSTEPS,
) -> np.ndarray:
    """(T, K, 13) float32 states in slot order; absent slots stay zero. ``stop_when_fallen``
    ends the run once its objects have moved by :data:`FALLEN` in total (the rest of the
    array then repeats the last frame: only for stability checks, never written)."""
    client = pb.connect(pb.DIRECT)
    try:
        gx, gy = config.gravity
        pb.setGravity(gx, gy, GRAVITY_Z, physicsClientId=client)
        pb.setPhysicsEngineParameter(
            fixedTimeStep=0.2,
            numSubSteps=substeps,
            numSolverIterations=SOLVER_ITERATIONS,
            deterministicOverlappingPairs=1,
            physicsClientId=client,
        )
        plane = pb.createCollisionShape(pb.GEOM_PLANE, physicsClientId=client)
        ground = pb.createMultiBody(0, plane, physicsClientId=client)
        pb.changeDynamics(ground, -1, lateralFriction=1.0, restitution=1.0, physicsClientId=client)
        if walls is not None:
            _walls(client, walls)
        ids = []
        for body in bodies:
            mass, friction, restitution = config.objects[body.slot]
            uid = pb.createMultiBody(
                mass,
                _shape(client, body.shape),
                basePosition=body.position,
                baseOrientation=body.orientation,
                physicsClientId=client,
            )
            rolling = 0.02 * friction if body.shape != "cube" else 0.0
            pb.changeDynamics(
                uid,
                -1,
                lateralFriction=friction,
                restitution=restitution,
                rollingFriction=rolling,
                spinningFriction=rolling,
                linearDamping=0.0,
                angularDamping=0.0,
                activationState=pb.ACTIVATION_STATE_ENABLE_SLEEPING,
                physicsClientId=client,
            )
            pb.resetBaseVelocity(uid, linearVelocity=body.velocity, physicsClientId=client)
            ids.append((body.slot, uid))
        states = np.zeros((T, K, 13), dtype=np.float32)
        for t in range(T):
            for slot, uid in ids:
                pos, quat = pb.getBasePositionAndOrientation(uid, physicsClientId=client)
                lin, ang = pb.getBaseVelocity(uid, physicsClientId=client)
                states[t, slot] = (*pos, *quat, *lin, *ang)
            if stop_when_fallen and np.abs(states[t, :, :3] - states[0, :, :3]).sum() > FALLEN:
                states[t + 1 :] = states[t]
                break
            if t < T - 1:
                pb.stepSimulation(physicsClientId=client)
        return states
    finally:
        pb.disconnect(client)


def _walls(client: int, half: float) -> None:
    thick, height = 0.2, 0.6
    for axis, sign in product((0, 1), (-1, 1)):
        extents = (
            [half + thick, thick / 2, height / 2]
            if axis == 1
            else [thick / 2, half + thick, height / 2]
        )
        position = [0.0, 0.0, height / 2]
        position[axis] = sign * (half + thick / 2)
        shape = pb.createCollisionShape(pb.GEOM_BOX, halfExtents=extents, physicsClientId=client)
        uid = pb.createMultiBody(0, shape, basePosition=position, physicsClientId=client)
        pb.changeDynamics(uid, -1, restitution=1.0, lateralFriction=0.5, physicsClientId=client)


# ---------------------------------------------------------------- shared search helpers


def _configurations(
    rng: np.random.Generator, scenario: str, slots: list[int]
) -> list[Configuration]:
    out = []
    for _ in range(N_CONFIGURATIONS):
        objects = {}
        for k in slots:
            mass = float(rng.choice(MASSES[scenario]))
            friction = float(rng.choice(FRICTIONS[scenario]))
            restitution = float(rng.choice(RESTITUTIONS)) if scenario != "blocktower" else 0.0
            objects[k] = (mass, friction, restitution)
        gravity = (0.0, 0.0)
        if scenario == "blocktower":
            gravity = (float(rng.choice(GRAVITY_TILTS)), float(rng.choice(GRAVITY_TILTS)))
        out.append(Configuration(objects, gravity))
    return out


def _confounder_array(scenario: str, config: Configuration) -> np.ndarray:
    K, H = len(PALETTES[scenario]), len(CONFOUNDERS[scenario])
    array = np.zeros((K, H), dtype=np.float32)
    for k, values in config.objects.items():
        array[k] = values[:H]
    return np.round(array, 1)


def _directions(
    rng: np.random.Generator, limit: float = 2.0, step: int = 1
) -> list[tuple[int, tuple[float, ...]]]:
    """±x, ±y in random order, each with δ ascending from 0.10 to ``limit`` (every
    ``step``-th multiple of 0.05)."""
    ups = tuple(d for d in DELTAS_UP[::step] if d <= limit + 1e-9)
    directions = [(0, ups), (0, tuple(-d for d in ups)), (1, ups), (1, tuple(-d for d in ups))]
    order = rng.permutation(len(directions))
    return [directions[i] for i in order]


def _spread(runs: list[np.ndarray]) -> float:
    """Largest range, over configurations, of any object's final (x, y)."""
    finals = np.stack([r[-1, :, :2] for r in runs])  # (configs, K, 2)
    return float((finals.max(0) - finals.min(0)).max())


def _yaw(angle: float) -> tuple[float, float, float, float]:
    return tuple(float(v) for v in pb.getQuaternionFromEuler([0.0, 0.0, angle]))  # type: ignore[return-value]


# ---------------------------------------------------------------- block towers


def _random_tower(rng: np.random.Generator, height: int, slots: list[int]) -> list[Body]:
    """The official walk: from the top block down, each block shifted from the one above."""
    off_x, off_y = rng.uniform(-1.0, 1.0, size=2)
    walk = np.round(np.arange(-0.6, 0.6, 0.01), 2).tolist() + [0.0]
    x = y = 0.0
    bodies = []
    for level in range(height - 1, -1, -1):
        if level < height - 1:
            x += float(rng.choice(walk))
            y += float(rng.choice(walk))
        yaw = float(rng.uniform(0.0, 2 * math.pi))
        bodies.append(Body(slots[level], "cube", (x + off_x, y + off_y, level + 0.5), _yaw(yaw)))
    return bodies[::-1]  # bottom → top


@dataclass
class _Found:
    bodies: list[Body]
    bodies_cd: list[Body]
    configs: list[Configuration]
    labels_ab: list
    labels_cd: list
    chosen: int
    change: dict
    attempt: int


STOP = "stop"


def _match_cd(
    labels_ab: list[bool],
    target: tuple[bool, bool],
    label_of: Callable[[int], bool],
    monotone: bool,
) -> tuple[list[bool], int] | str | None:
    """The official acceptance test of a candidate C, simulating as little as it can: first
    only the configurations whose AB label is the target's, and only if one of them gives
    the target CD label the others (C's labels must vary and differ from AB's pattern).

    ``STOP`` when ``monotone`` (towers: a larger δ will not stand up again) and every
    configuration that could give a standing target falls."""
    candidates = [i for i, a in enumerate(labels_ab) if a == target[0]]
    labels = {i: label_of(i) for i in candidates}
    hits = [i for i in candidates if labels[i] == target[1]]
    if not hits:
        return STOP if monotone and target[1] and not any(labels.values()) else None
    for i in range(len(labels_ab)):
        if i not in labels:
            labels[i] = label_of(i)
    labels_cd = [labels[i] for i in range(len(labels_ab))]
    if len(set(labels_cd)) == 2 and labels_cd != labels_ab:
        return labels_cd, hits[0]
    return None


def _stable(bodies: list[Body], config: Configuration, counter: list[int]) -> bool:
    counter[0] += 1
    states = simulate(bodies, config, TIMESTEPS["blocktower"], 4, stop_when_fallen=True)
    return not tower_falls(states)


def _tower(
    rng: np.random.Generator, height: int, target: tuple[bool, bool], counter: list[int]
) -> _Found:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        slots = [int(s) for s in rng.permutation(4)[:height]]  # bottom → top colours
        bodies = _random_tower(rng, height, slots)
        configs = _configurations(rng, "blocktower", slots)
        stab_ab = [_stable(bodies, c, counter) for c in configs]
        if len(set(stab_ab)) < 2:
            continue  # A's stability must be ambiguous
        moved = int(rng.integers(height))
        trials: list[tuple[str, int, tuple[float, ...]]] = [
            ("displace", axis, deltas) for axis, deltas in _directions(rng)
        ]
        if rng.uniform() < REMOVE_FIRST:
            trials.insert(0, ("remove", -1, (0.0,)))
        for kind, axis, deltas in trials:
            for delta in deltas:
                if kind == "remove":
                    bodies_cd = bodies[:-1]
                else:
                    bodies_cd = [
                        b.moved(axis, delta) if i == moved else b for i, b in enumerate(bodies)
                    ]
                found = _match_cd(
                    stab_ab,
                    target,
                    lambda i, cd=bodies_cd, cf=configs: _stable(cd, cf[i], counter),  # type: ignore[misc]
                    monotone=True,
                )
                if found == STOP:
                    break
                if isinstance(found, tuple):
                    slot = bodies[-1].slot if kind == "remove" else bodies[moved].slot
                    change: dict = {"kind": kind, "slot": slot}
                    if kind == "displace":
                        change.update(axis="xy"[axis], delta=delta)
                    return _Found(
                        bodies, bodies_cd, configs, stab_ab, found[0], found[1], change, attempt
                    )
    raise GenerationError(
        f"No {height}-block tower met the constraints in {MAX_ATTEMPTS} attempts."
    )


# ---------------------------------------------------------------- balls and collision


def _overlaps(bodies: list[Body], radius: float) -> bool:
    xy = np.array([b.position[:2] for b in bodies])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(bodies)) * 99
    return bool((d < 2 * radius + 0.05).any())


def _random_balls(rng: np.random.Generator, n: int) -> list[Body]:
    slots = sorted(int(s) for s in rng.permutation(len(PALETTES["balls"]))[:n])
    while True:
        xy = rng.uniform(-ARENA + 0.6, ARENA - 0.6, size=(n, 2))
        angle = rng.uniform(0, 2 * math.pi, size=n)
        speed = rng.uniform(1.5, 3.0, size=n)
        bodies = [
            Body(
                k,
                "sphere",
                (float(x), float(y), RADIUS),
                velocity=(float(s * math.cos(a)), float(s * math.sin(a)), 0.0),
            )
            for k, (x, y), a, s in zip(slots, xy, angle, speed, strict=True)
        ]
        if not _overlaps(bodies, RADIUS):
            return bodies


def _random_collision(rng: np.random.Generator) -> list[Body]:
    sphere_slot, cylinder_slot = (int(s) for s in rng.permutation(4)[:2])
    kind = "cylinder_up" if rng.uniform() < 0.5 else "cylinder_down"
    cx, cy = rng.uniform(-1.0, 1.0, size=2)
    if kind == "cylinder_up":
        cylinder = Body(cylinder_slot, kind, (float(cx), float(cy), CYLINDER_HEIGHT / 2))
    else:  # lying on its side, axis horizontal in a random direction
        yaw = float(rng.uniform(0, math.pi))
        quat = pb.getQuaternionFromEuler([math.pi / 2, 0.0, yaw])
        cylinder = Body(cylinder_slot, kind, (float(cx), float(cy), CYLINDER_RADIUS), tuple(quat))  # type: ignore[arg-type]
    angle = float(rng.uniform(0, 2 * math.pi))
    distance = float(rng.uniform(2.5, 3.5))
    sx, sy = cx + distance * math.cos(angle), cy + distance * math.sin(angle)
    aim = angle + math.pi + float(rng.uniform(-0.25, 0.25))
    speed = float(rng.uniform(3.0, 5.0))
    sphere = Body(
        sphere_slot,
        "sphere",
        (float(sx), float(sy), RADIUS),
        velocity=(speed * math.cos(aim), speed * math.sin(aim), 0.0),
    )
    return [sphere, cylinder]


def _run(scenario: str, bodies: list[Body], config: Configuration, counter: list[int]):
    counter[0] += 1
    walls = ARENA if scenario == "balls" else None
    T, K = TIMESTEPS[scenario], len(PALETTES[scenario])
    return simulate(bodies, config, T, K, walls=walls, substeps=ROLLING_SUBSTEPS)


def _cylinder_stays(states: np.ndarray, slot: int) -> bool:
    return bool(np.abs(states[-1, slot, :3] - states[0, slot, :3]).sum() < 0.05)


def _collision(rng: np.random.Generator, target: tuple[bool, bool], counter: list[int]) -> _Found:
    """The towers' rules with "the cylinder stays put" as the stability label."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        bodies = _random_collision(rng)
        cylinder = bodies[1].slot
        configs = _configurations(rng, "collision", [b.slot for b in bodies])
        stays_ab = [
            _cylinder_stays(_run("collision", bodies, c, counter), cylinder) for c in configs
        ]
        if len(set(stays_ab)) < 2:
            continue
        moved = int(rng.integers(2))
        for axis, deltas in _directions(rng, limit=1.05, step=2):  # 0.10, 0.20 … 1.00
            for delta in deltas:
                bodies_cd = [
                    b.moved(axis, delta) if i == moved else b for i, b in enumerate(bodies)
                ]
                if _overlaps(bodies_cd, 0.5):  # sphere 0.3 + half a lying cylinder 0.6, with room
                    continue
                found = _match_cd(
                    stays_ab,
                    target,
                    lambda i, cd=bodies_cd, cf=configs, k=cylinder: _cylinder_stays(  # type: ignore[misc]
                        _run("collision", cd, cf[i], counter), k
                    ),
                    monotone=False,
                )
                if isinstance(found, tuple):
                    change = {
                        "kind": "move",
                        "slot": bodies[moved].slot,
                        "axis": "xy"[axis],
                        "delta": delta,
                    }
                    return _Found(
                        bodies, bodies_cd, configs, stays_ab, found[0], found[1], change, attempt
                    )
    raise GenerationError(f"No collision scene met the constraints in {MAX_ATTEMPTS} attempts.")


def _balls(rng: np.random.Generator, n: int, counter: list[int]) -> _Found:
    """Accepted when the confounders spread the final positions of AB and of CD by SPREAD."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        bodies = _random_balls(rng, n)
        configs = _configurations(rng, "balls", [b.slot for b in bodies])
        spread_ab = _spread([_run("balls", bodies, c, counter) for c in configs])
        if spread_ab < SPREAD:
            continue
        moved = int(rng.integers(n))
        for axis, deltas in _directions(rng, limit=1.5):
            for delta in rng.permutation(np.asarray(deltas)).tolist():  # any size will do
                bodies_cd = [
                    b.moved(axis, delta) if i == moved else b for i, b in enumerate(bodies)
                ]
                xy = bodies_cd[moved].position[:2]
                if max(abs(xy[0]), abs(xy[1])) > ARENA - RADIUS - 0.05 or _overlaps(
                    bodies_cd, RADIUS
                ):
                    continue
                spread_cd = _spread([_run("balls", bodies_cd, c, counter) for c in configs])
                if spread_cd < SPREAD:
                    continue
                change = {
                    "kind": "move",
                    "slot": bodies[moved].slot,
                    "axis": "xy"[axis],
                    "delta": delta,
                }
                chosen = int(rng.integers(len(configs)))
                return _Found(
                    bodies,
                    bodies_cd,
                    configs,
                    [round(spread_ab, 3)],
                    [round(spread_cd, 3)],
                    chosen,
                    change,
                    attempt,
                )
    raise GenerationError(f"No balls scene met the constraints in {MAX_ATTEMPTS} attempts.")


# ---------------------------------------------------------------- examples


TARGETS = ((True, True), (True, False), (False, True), (False, False))


def make_example(
    scenario: str,
    n_objects: int | None,
    seed: int,
    index: int,
    example_id: str,
    target: tuple[bool, bool] | None = None,
):
    """One example and how it was chosen; depends only on its arguments. ``target`` is the
    (stable_AB, stable_CD) pair to reach (towers, collision; drawn from the seed when None)."""
    code = {"blocktower": 1, "balls": 2, "collision": 3}[scenario]
    rng = np.random.default_rng([seed, code, index])
    counter = [0]
    T, K = TIMESTEPS[scenario], len(PALETTES[scenario])
    if target is None and scenario != "balls":
        target = TARGETS[int(rng.integers(4))]
    if scenario == "balls":
        target = None
    if scenario == "blocktower":
        assert n_objects is not None and target is not None
        found = _tower(rng, n_objects, target, counter)
    elif scenario == "collision":
        assert target is not None
        found = _collision(rng, target, counter)
    else:
        found = _balls(rng, n_objects or 2, counter)
    config = found.configs[found.chosen]
    bodies, bodies_cd = found.bodies, found.bodies_cd
    if scenario == "blocktower":
        ab = simulate(bodies, config, T, K)
        cd = simulate(bodies_cd, config, T, K)
        counter[0] += 2
    else:
        ab, cd = _run(scenario, bodies, config, counter), _run(scenario, bodies_cd, config, counter)
    types = {b.slot: b.shape for b in bodies}
    example = Example(
        example_id=example_id,
        scenario=scenario,
        ab=ab,
        cd=cd,
        confounders=_confounder_array(scenario, config),
        colors=color_lines(scenario, [b.slot for b in bodies], types),
        colors_cd=color_lines(scenario, [b.slot for b in bodies_cd], types),
        gravity=config.gravity if scenario == "blocktower" else None,
    )
    if scenario != "blocktower":
        example = _with_explanation(example)
    generation = Generation(
        seed=[seed, code, index],
        target=list(target) if target is not None else None,
        configurations=[c.to_json() for c in found.configs],
        labels_ab=list(found.labels_ab),
        labels_cd=list(found.labels_cd),
        chosen=found.chosen,
        intervention=found.change,
        attempts=found.attempt,
        simulations=counter[0],
    )
    return example, generation, counter[0]


def _with_explanation(example: Example) -> Example:
    return Example(**{**example.__dict__, "explanation": describe_intervention(example)})


def default_counts(scenario: str) -> tuple[int, ...] | tuple[None]:
    return OBJECT_COUNTS.get(scenario, (None,))  # type: ignore[return-value]


def generate(
    scenario: str,
    n: int,
    seed: int,
    root: Path | None = None,
    progress: ProgressFn | None = None,
    *,
    counts: tuple[int, ...] | None = None,
    first_id: int = 0,
) -> GenerateResult:
    """``n`` examples of ``scenario``, written under ``root`` in the official layout when given
    (with ``generation.json`` beside each: the sampled configurations, their labels, the
    target and the intervention). Example ``i = first_id + j`` has ``counts[i % len(counts)]``
    objects (default: towers 3 and 4 alternately, balls 2..6) and id ``<folder>/<count>/<i>``;
    it depends on (scenario, seed, i, counts) only, so a set can be extended or one example
    regenerated with ``first_id``.

    ``progress(fraction, message)`` is called after each example; returning False stops the
    run with :class:`ml.common.progress.Cancelled`. Same arguments ⇒ the same arrays.
    """
    from ml.common.progress import report

    if scenario not in FOLDERS:
        raise ValueError(f"Unknown scenario {scenario!r}; expected one of {', '.join(FOLDERS)}.")
    sizes = counts or default_counts(scenario)
    started = time.perf_counter()
    result = GenerateResult([], [], 0.0)
    for i in range(n):
        index = first_id + i
        count = sizes[index % len(sizes)]
        folder = FOLDERS[scenario] if count is None else f"{FOLDERS[scenario]}/{count}"
        # Targets cycle through the four (stable_AB, stable_CD) pairs within each object
        # count, so a set of 4m examples per count is exactly balanced.
        target = TARGETS[(index // len(sizes) + seed) % 4] if scenario != "balls" else None
        example, generation, sims = make_example(
            scenario, count, seed, index, f"{folder}/{index}", target
        )
        result.examples.append(example)
        result.generations.append(generation)
        result.simulations += sims
        if root is not None:
            path = write_example(root, example)
            (path / "generation.json").write_text(json.dumps(asdict(generation), indent=1) + "\n")
            result.folders.append(path)
        report(progress, (i + 1) / n, f"Simulated {i + 1} of {n} {scenario} examples")
    result.seconds = time.perf_counter() - started
    return result
