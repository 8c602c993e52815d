"""The PyBullet scene generator: deterministic, every example meets §3.2's constraints, and the
importer reads what it writes (the committed demo scenes included)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from ml.common.progress import Cancelled
from ml.cophy.layout import (
    TIMESTEPS,
    describe_intervention,
    intervention,
    read_example,
    read_examples,
)
from ml.cophy.metrics import tower_falls
from ml.cophy.sim import DELTAS_UP, SPREAD, Body, Configuration, generate, simulate

DEMO = Path(__file__).resolve().parents[2] / "apps" / "cophy" / "demo" / "scenes"
DEMO_SEED = 7  # scripts/cophy/make_demo.py


# Demo examples whose search ends quickly (a dozen simulations): regenerating them keeps this
# file fast, and comparing them with the committed files checks determinism across runs.
QUICK = {"blocktower": 11, "collision": 3, "balls": 0}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("cophy")
    results = {
        scenario: generate(scenario, 2 if scenario == "balls" else 1, DEMO_SEED, root, first_id=i)
        for scenario, i in QUICK.items()
    }
    return root, results


def _cylinder_stays(states, slot):
    return bool(np.abs(states[-1, slot, :3] - states[0, slot, :3]).sum() < 0.05)


def _check_tower(example, generation):
    ab, cd = generation["labels_ab"], generation["labels_cd"]
    assert len(set(ab)) == 2, "A's stability must be ambiguous over the configurations"
    assert len(set(cd)) == 2 and cd != ab, "C's too, with another pattern"
    chosen = generation["chosen"]
    assert [ab[chosen], cd[chosen]] == generation["target"]
    # The written runs carry the labels the search chose.
    assert [not tower_falls(example.ab), not tower_falls(example.cd)] == generation["target"]
    config = generation["configurations"][chosen]
    for k, (mass, friction, _) in config["objects"].items():
        assert tuple(example.confounders[int(k)]) == (mass, friction)
    assert example.gravity == tuple(config["gravity"])
    change = intervention(example)
    spec = generation["intervention"]
    assert change is not None and change.object == spec["slot"]
    if spec["kind"] == "remove":
        assert change.kind == "remove" and example.tower_order()[-1] == spec["slot"]
    else:
        axis = "xy".index(spec["axis"])
        assert change.kind == "displace" and abs(spec["delta"]) in DELTAS_UP
        assert change.delta[axis] == pytest.approx(spec["delta"], abs=1e-4)
        assert sum(abs(d) for d in change.delta) == pytest.approx(abs(spec["delta"]), abs=1e-4)


def test_a_simulation_depends_on_its_inputs_only():
    bodies = [
        Body(0, "cube", (0.0, 0.0, 0.5)),
        Body(2, "cube", (0.45, 0.1, 1.5), (0.0, 0.0, 0.38268343, 0.92387953)),
    ]
    config = Configuration({0: (1.0, 0.5, 0.0), 2: (10.0, 1.0, 0.0)}, (0.5, 0.0))
    first = simulate(bodies, config, 30, 4)
    np.testing.assert_array_equal(first, simulate(bodies, config, 30, 4))
    heavier_bottom = Configuration({0: (10.0, 0.5, 0.0), 2: (10.0, 1.0, 0.0)}, (0.5, 0.0))
    assert not np.array_equal(first, simulate(bodies, heavier_bottom, 30, 4))
    assert first.dtype == np.float32 and not first[:, [1, 3]].any()


def _check_collision(example, generation):
    ab, cd = generation["labels_ab"], generation["labels_cd"]
    assert len(set(ab)) == 2 and len(set(cd)) == 2 and cd != ab
    chosen = generation["chosen"]
    assert [ab[chosen], cd[chosen]] == generation["target"]
    cylinder = next(k for k, t in example.object_types().items() if t.startswith("cylinder"))
    written = [_cylinder_stays(example.ab, cylinder), _cylinder_stays(example.cd, cylinder)]
    assert written == generation["target"]
    change = intervention(example)
    assert change is not None and change.kind == "move"
    assert change.object == generation["intervention"]["slot"]
    assert example.explanation == describe_intervention(example)


def test_the_same_seed_gives_the_committed_demo_arrays(generated):
    """The demo was written by make_demo.py in another process, hours earlier."""
    _, results = generated
    for result in results.values():
        for example in result.examples:
            committed = read_example(DEMO / example.example_id)
            np.testing.assert_array_equal(example.ab, committed.ab)
            np.testing.assert_array_equal(example.cd, committed.cd)
            np.testing.assert_array_equal(example.confounders, committed.confounders)
            assert example.colors == committed.colors
    other = generate("balls", 1, DEMO_SEED + 1).examples[0]
    assert not np.array_equal(other.ab, results["balls"].examples[0].ab)


def test_what_the_generator_writes_reads_back_identically(generated):
    root, results = generated
    read = read_examples(root)
    assert read.ok
    by_id = {e.example_id: e for e in read.examples}
    assert sorted(by_id) == ["ballsCF/2/0", "ballsCF/3/1", "blocktowerCF/4/11", "collisionCF/3"]
    for result in results.values():
        for example in result.examples:
            other = by_id[example.example_id]
            np.testing.assert_array_equal(other.ab, example.ab)
            assert other.colors == example.colors and other.explanation == example.explanation
            assert other.T == TIMESTEPS[example.scenario]


def test_the_generated_examples_meet_the_constraints(generated):
    root, results = generated
    (tower,) = results["blocktower"].examples
    _check_tower(tower, json.loads((root / tower.example_id / "generation.json").read_text()))
    assert tower.n_objects == 4
    (collision,) = results["collision"].examples
    _check_collision(collision, asdict(results["collision"].generations[0]))
    for generation in results["balls"].generations:
        assert generation.labels_ab[0] >= SPREAD and generation.labels_cd[0] >= SPREAD


def test_progress_is_reported_and_a_false_answer_stops_the_run():
    seen = []
    with pytest.raises(Cancelled):
        generate("balls", 3, 1, progress=lambda f, m: (seen.append((f, m)), False)[1])
    assert seen == [(1 / 3, "Simulated 1 of 3 balls examples")]


@pytest.mark.skipif(not DEMO.exists(), reason="demo scenes not generated")
def test_the_committed_demo_scenes_read_and_meet_the_constraints():
    read = read_examples(DEMO)
    assert read.ok, read.problems
    scenarios = Counter(e.scenario for e in read.examples)
    assert scenarios == {"blocktower": 24, "balls": 16, "collision": 16}
    pairs: Counter = Counter()
    for example in read.examples:
        generation = json.loads((DEMO / example.example_id / "generation.json").read_text())
        if example.scenario == "blocktower":
            _check_tower(example, generation)
            pairs[(example.n_objects, *generation["target"])] += 1
        elif example.scenario == "collision":
            _check_collision(example, generation)
            pairs[("collision", *generation["target"])] += 1
        else:
            assert min(generation["labels_ab"] + generation["labels_cd"]) >= SPREAD
    # Every (stable_AB, stable_CD) pair: 3 times per tower height, 4 times in collisions.
    assert len(pairs) == 12 and {n for key, n in pairs.items() if key[0] != "collision"} == {3}
    assert {n for key, n in pairs.items() if key[0] == "collision"} == {4}
