"""CoPhy's MSE, stability labels and copy baselines against computations written out here by
hand, on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.cophy.baselines import baseline_mse, copy_b, copy_c
from ml.cophy.metrics import (
    final_position_error,
    is_moving,
    mean_mse,
    predicted_trajectory_moves,
    stability_accuracy,
    tower_falls,
    trajectory_mse,
    will_move,
)

from .cophy_data import balls, run, tower


def _mse_by_loops(pred, states, dim):
    """The §3.4 formula, one term at a time."""
    T, K = states.shape[:2]
    present = [sum(abs(float(v)) for v in states[0, k, :3]) > 0 for k in range(K)]
    total = 0.0
    for t in range(1, T):
        for k in range(K):
            if present[k]:
                sq = [(float(pred[t - 1, k, d]) - float(states[t, k, d])) ** 2 for d in range(dim)]
                total += sum(sq) / dim
    return total / (sum(present) * (T - 1))


def test_the_mse_follows_the_formula_with_three_dimensions_for_towers():
    example = tower(remove_top=True)
    rng = np.random.default_rng(0)
    pred = example.cd[1:, :, :3] + rng.normal(0, 0.3, size=(29, 4, 3)).astype(np.float32)
    expected = _mse_by_loops(pred, example.cd, 3)
    assert trajectory_mse(pred, example.cd, "blocktower") == pytest.approx(expected, rel=1e-6)
    # The removed block (absent in CD) and the empty fourth slot do not count at all.
    pred[:, 2:] = 1e6
    assert trajectory_mse(pred, example.cd, "blocktower") == pytest.approx(
        _mse_by_loops(pred, example.cd, 3), rel=1e-6
    )
    assert trajectory_mse(pred, example.cd, "blocktower") < 1.0


def test_balls_are_scored_on_x_and_y_only():
    example = balls()
    pred = example.cd[1:, :, :3].copy()
    pred[:, :, 2] += 5.0  # a wrong height costs nothing for balls
    assert trajectory_mse(pred, example.cd, "balls") == 0.0
    pred[:, 0, 0] += 1.0  # x off by one for one of two balls at every step
    assert trajectory_mse(pred, example.cd, "balls") == pytest.approx((1.0 / 2) * 29 / (2 * 29))


def test_a_prediction_of_the_wrong_length_is_refused():
    example = tower()
    with pytest.raises(ValueError, match=r"expected \(29, 4, ≥3\)"):
        trajectory_mse(example.cd[:, :, :3], example.cd, "blocktower")


def _moving_by_loops(states, delta):
    T, K = states.shape[:2]
    labels = np.zeros((T, K))
    for k in range(K):
        if np.abs(states[0, k, :3]).sum() == 0:
            continue
        for t in range(T):
            a, b = max(t - delta, 0), min(t + delta, T - 1)
            labels[t, k] = float(np.abs(states[b, k, :3] - states[a, k, :3]).sum() > 0.05)
    return labels


def test_the_is_moving_label_uses_delta_two_for_blocks_and_five_for_collisions():
    positions = np.zeros((15, 4, 3), dtype=np.float32)
    positions[:, 0] = (1.0, 1.0, 0.5)
    positions[6:, 0, 0] += 0.2  # one jump between t=5 and t=6
    positions[:, 1] = (-1.0, 0.0, 0.5)  # at rest
    states = run(positions)
    two = _moving_by_loops(states, 2)
    five = _moving_by_loops(states, 5)
    assert two[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert five[:, 0].sum() == 10 and two[:, 1].sum() == 0
    # is_moving reads the scenario's Δ (balls: 2; collision: 5) and the scenario's T is not
    # assumed by the label.
    np.testing.assert_array_equal(is_moving(states, "balls"), two)
    np.testing.assert_array_equal(is_moving(states, "collision"), five)
    assert will_move(states, "collision").tolist() == [True, False, False, False]


def test_the_tower_falls_when_the_positions_shift_by_at_least_five_hundredths():
    assert tower_falls(tower(fall=0.8).cd)
    assert not tower_falls(tower(fall=0.8).ab)
    assert not tower_falls(tower(fall=0.03).cd)  # 0.03 in x and 0.015 in z: 0.045 < 0.05
    assert tower_falls(tower(fall=0.034).cd)  # 0.034 + 0.017 = 0.051


def test_stability_accuracy_counts_agreement_among_the_kept_labels():
    truth = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    predicted = np.array([[0.9, 0.2, 0.7, 0.0], [0.1, 0.8, 0.9, 0.9]])
    present = np.array([1, 1, 1, 0])
    # kept: 6 entries; right: (0,0) (0,1) (1,1) → 3 of 6
    assert stability_accuracy(predicted, truth, present) == pytest.approx(3 / 6)
    assert stability_accuracy(predicted > 0.5, truth) == pytest.approx(4 / 8)
    assert stability_accuracy(predicted, truth, np.zeros(4)) is None


def test_a_predicted_trajectory_is_labelled_like_a_real_run():
    example = tower(fall=0.8)
    truth = will_move(example.cd, "blocktower")
    assert truth.tolist() == [False, False, True, False]
    assert (
        predicted_trajectory_moves(example.cd[0], example.cd[1:, :, :3], "blocktower").tolist()
        == truth.tolist()
    )
    assert not predicted_trajectory_moves(example.cd[0], copy_c(example), "blocktower").any()


def test_the_final_position_error_is_the_ground_plane_distance():
    example = tower(fall=0.8)
    final = example.cd[-1, 2]
    assert final_position_error((final[0] + 3.0, final[1] - 4.0), example.cd, 2) == pytest.approx(
        5.0
    )


def test_copy_c_and_copy_b_give_the_numbers_their_definitions_imply():
    example = tower(moved=1, dx=0.5, fall=0.8)
    c = copy_c(example)
    assert c.shape == (29, 4, 3) and np.all(c == example.cd[0, :, :3])
    np.testing.assert_array_equal(copy_b(example), example.ab[1:, :, :3])
    # Copy C: only the top block moves, by ramp(t) = 0.8·t/29 in x and half of it down in z:
    # per-step error (r² + r²/4)/3 for 1 of 3 present blocks.
    ramp = 0.8 * np.arange(1, 30) / 29
    expected_c = float(np.sum((ramp**2 + (ramp / 2) ** 2) / 3) / (3 * 29))
    assert trajectory_mse(c, example.cd, "blocktower") == pytest.approx(expected_c, rel=1e-5)
    # Copy B: B stands still, so the displaced block is off by dx at every step and the block
    # above it by the ramp.
    expected_b = float(
        (np.sum(np.full(29, 0.5**2 / 3)) + np.sum((ramp**2 + (ramp / 2) ** 2) / 3)) / (3 * 29)
    )
    assert trajectory_mse(copy_b(example), example.cd, "blocktower") == pytest.approx(
        expected_b, rel=1e-5
    )
    scores = baseline_mse([example, tower(moved=1, dx=0.5, fall=0.0)])
    assert scores["copy_c"] == pytest.approx(expected_c / 2, rel=1e-5)
    assert scores["copy_b"] == pytest.approx((expected_b + 0.5**2 / 3 / 3) / 2, rel=1e-5)
    assert mean_mse([], []) is None and math.isfinite(scores["copy_b"])
