"""The CoPhyNet trainer on CPU: it learns to beat Copy C, its metrics recompute from the
checkpoint's predictions, and it takes every record shape the app may pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ml.common import Cancelled, TrainingError
from ml.common.checkpoint import CONFIG
from ml.cophy.baselines import copy_c
from ml.cophy.config import CophyTrainConfig
from ml.cophy.data import as_items, split_items
from ml.cophy.layout import SCENARIOS, read_examples
from ml.cophy.metrics import will_move
from ml.cophy.predict import Predictor, build_model, run_model
from ml.cophy.train import train

DEMO = Path(__file__).resolve().parents[2] / "apps" / "cophy" / "demo" / "scenes"
CPU = torch.device("cpu")
TINY = CophyTrainConfig(epochs=8, batch_size=8, hidden=32, lr=5e-3, seed=3)


@pytest.fixture(scope="module")
def demo():
    return read_examples(DEMO).examples


@pytest.fixture(scope="module")
def subset(demo):
    """Four scenes of each (scenario, object count) the test needs: 3- and 4-block towers,
    2-ball scenes and collisions."""
    out = []
    for scenario, count in (("blocktower", 3), ("blocktower", 4), ("balls", 2), ("collision", 2)):
        out += [e for e in demo if e.scenario == scenario and e.n_objects == count][:4]
    return out


@pytest.fixture(scope="module")
def trained(subset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cophy") / "model"
    seen: list[float] = []
    result = train(subset, TINY, CPU, lambda f, m: seen.append(f) or True, out)
    return result, seen


def _mse_by_loops(pred, states, dim):
    T, K = states.shape[:2]
    present = [np.abs(states[0, k, :3]).sum() > 0 for k in range(K)]
    total = sum(
        np.mean([(pred[t - 1, k, d] - states[t, k, d]) ** 2 for d in range(dim)])
        for t in range(1, T)
        for k in range(K)
        if present[k]
    )
    return total / (sum(present) * (T - 1))


def test_an_untrained_model_is_copy_c(subset):
    model = build_model(TINY, SCENARIOS)
    raw = run_model(model, subset, CPU)
    for example in subset:
        present = example.presence_cd > 0
        np.testing.assert_allclose(
            raw[example.example_id][0][:, present], copy_c(example)[:, present], atol=1e-5
        )


def test_training_brings_the_trajectory_error_below_copy_c(trained):
    result, seen = trained
    metrics = result.metrics
    assert metrics["final_train_loss"] < metrics["initial_train_loss"]
    for scenario in ("blocktower", "balls", "collision"):
        scores = metrics["train_scenarios"][scenario]
        assert scores["mse"] < scores["copy_c"], (scenario, scores)
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert (result.artifact_dir / CONFIG).exists()


def test_the_held_out_metrics_recompute_from_the_checkpoints_predictions(trained, subset):
    result, _ = trained
    held = [e for e in subset if e.example_id in set(result.snapshot["held_out_ids"])]
    assert len(held) == 4  # one of four per (scenario, count) group
    predictions = Predictor(result.artifact_dir, CPU).predict(held)
    for scenario, dim in (("blocktower", 3), ("balls", 2), ("collision", 3)):
        pairs = [(p, e) for p, e in zip(predictions, held, strict=True) if e.scenario == scenario]
        scores = result.metrics["scenarios"][scenario]
        assert scores["n"] == len(pairs)
        mse = np.mean([_mse_by_loops(p.positions, e.cd, dim) for p, e in pairs])
        assert scores["mse"] == pytest.approx(mse, rel=1e-4)
        still = np.mean(
            [_mse_by_loops(np.repeat(e.cd[:1, :, :3], e.T - 1, 0), e.cd, dim) for _, e in pairs]
        )
        assert scores["copy_c"] == pytest.approx(still, rel=1e-5)
        b = np.mean([_mse_by_loops(e.ab[1:, :, :3], e.cd, dim) for _, e in pairs])
        assert scores["copy_b"] == pytest.approx(b, rel=1e-5)
        right = [
            p.will_move[k] == bool(will_move(e.cd, scenario)[k])
            for p, e in pairs
            for k in range(e.K)
            if e.presence_cd[k]
        ]
        assert scores["will_move_accuracy"] == pytest.approx(np.mean(right))
    tower = [(p, e) for p, e in zip(predictions, held, strict=True) if e.scenario == "blocktower"]
    assert all(p.tower_falls == any(p.will_move) for p, _ in tower)
    as_json = predictions[0].to_dict()
    assert len(as_json["positions"]) == held[0].T - 1 and len(as_json["will_move"]) == held[0].K


def test_the_cross_count_model_trains_on_three_blocks_and_tests_on_four(trained):
    result, _ = trained
    cross = result.metrics["cross_count"]
    assert (cross["train_blocks"], cross["test_blocks"]) == (3, 4)
    assert cross["n_train"] == 3 and cross["n_test"] == 4
    assert cross["mse"] > 0 and cross["copy_c"] > 0


def test_records_may_be_paths_or_mappings_and_a_named_split_wins(demo):
    tower, balls = demo[0], next(e for e in demo if e.scenario == "balls")
    rows = [
        str(DEMO / tower.example_id),
        {"path": DEMO / balls.example_id, "split": "train"},
        {
            "example_id": "mine/1",
            "scenario": balls.scenario,
            "ab": balls.ab.tolist(),
            "cd": balls.cd.tolist(),
            "split": "val",
        },
    ]
    items = as_items(rows)
    assert [i.example.example_id for i in items] == [tower.example_id, balls.example_id, "mine/1"]
    np.testing.assert_array_equal(items[2].example.cd, balls.cd)
    train_set, held = split_items(items, val_fraction=0.5, seed=0)
    assert [e.example_id for e in held] == ["mine/1"]
    assert sorted(e.example_id for e in train_set) == sorted([tower.example_id, balls.example_id])
    with pytest.raises(TrainingError, match=r"mine/2: cd has shape \(29, 9, 13\)"):
        as_items([{**rows[2], "example_id": "mine/2", "cd": balls.cd[:29].tolist()}])
    with pytest.raises(TrainingError, match="lacks 'scenario'"):
        as_items([{"example_id": "x", "ab": [], "cd": []}])


def test_a_cancelled_run_stops_and_a_foreign_checkpoint_or_scenario_is_refused(subset, tmp_path):
    with pytest.raises(Cancelled):
        train(subset[:2], TINY, CPU, lambda f, m: False, tmp_path / "stopped")
    collisions = [e for e in subset if e.scenario == "collision"][:2]
    one = CophyTrainConfig(epochs=1, hidden=8, val_fraction=0.0)
    result = train(collisions, one, CPU, None, tmp_path / "collisions")
    with pytest.raises(ValueError, match="trained on collision scenes, not blocktower"):
        Predictor(result.artifact_dir, CPU).predict([subset[0]])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / CONFIG).write_text('{"kind": "mos"}')
    with pytest.raises(ValueError, match="not CoPhy"):
        Predictor(tmp_path / "other", CPU)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_same_code_trains_on_cuda_with_bf16_autocast(subset, tmp_path):
    result = train(subset, TINY, torch.device("cuda"), None, tmp_path / "gpu")
    assert result.metrics["device"] == "cuda"
    assert result.metrics["final_train_loss"] < result.metrics["initial_train_loss"]
