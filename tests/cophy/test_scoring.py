"""The study's labels of a scene's outcome D, checked by hand on scenes whose truth is known
by construction; the first-contact geometry; the hand-made gold scenes; simulated people."""

from __future__ import annotations

import random

import numpy as np
import pytest

from apps.cophy import gold, scoring
from tests.cophy import scenes


def test_a_falling_tower_moves_only_its_displaced_block():
    truth = scoring.truth_of(scenes.tower())
    assert truth.question == "tower" and truth.falls is True
    assert truth.moves.tolist()[:3] == [False, False, True]
    still = scoring.truth_of(scenes.tower("2", top_falls=False))
    assert still.falls is False and not still.moves.any()


def test_a_removed_block_is_not_asked():
    truth = scoring.truth_of(scenes.tower("3", remove=True))
    assert truth.present.tolist() == [True, True, False, False]


def test_the_marked_ball_and_what_it_touches_first():
    truth = scoring.truth_of(scenes.balls())
    assert truth.target == 0 and truth.first_contact == "green"
    assert truth.final_xy[0] == pytest.approx([1.6, 1.0])
    assert scoring.truth_of(scenes.collision()).first_contact == "nothing"


def test_contact_with_a_lying_cylinder_counts_along_its_axis():
    """A lying cylinder (axis along x, half length 0.6) at the origin; a sphere passing at
    y = 0.65 above its end touches it (0.65 < 0.3 + 0.3 + 0.1); one passing at 0.8 does not."""
    quarter = np.array([0.0, np.sin(np.pi / 4), 0.0, np.cos(np.pi / 4)])  # z axis → x axis
    shapes = {0: "sphere", 1: "cylinder_down"}
    for y, touches in ((0.65, True), (0.8, False)):
        T = 10
        positions = np.zeros((T, 2, 3))
        positions[:, 0, 0] = np.linspace(-3, 0.5, T)
        positions[:, 0, 1] = y
        positions[:, :, 2] = 0.3
        quaternions = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (T, 2, 1))
        quaternions[:, 1] = quarter
        slot = scoring.first_contact_slot(positions, quaternions, shapes, target=0)
        assert (slot == 1) is touches, y


def test_objects_touching_from_the_start_do_not_count_as_a_contact():
    shapes = {0: "sphere", 1: "sphere"}
    positions = np.zeros((5, 2, 3))
    positions[:, 1, 0] = 0.6  # resting side by side
    quaternions = np.tile(np.array([0.0, 0.0, 0.0, 1.0]), (5, 2, 1))
    assert scoring.first_contact_slot(positions, quaternions, shapes, target=0) is None


@pytest.mark.parametrize("example", gold.demo_gold(), ids=lambda e: e.example_id)
def test_a_gold_scene_rests_so_its_answer_is_obvious(example):
    truth = scoring.truth_of(example)
    assert not truth.moves.any() and truth.falls is False
    for copy in scoring.baseline_predictions(example).values():
        assert copy.shape == (example.T - 1, example.K, 3)
    assert scoring.trajectory_score(
        example, truth, scoring.baseline_predictions(example)["copy_c"]
    ).mse == pytest.approx(0.0)
    if truth.target is not None:
        assert truth.first_contact == "nothing"
        c = example.cd[0, truth.target, :2]
        assert truth.final_xy[truth.target] == pytest.approx(c)


@pytest.mark.django_db
def test_simulated_people_beat_chance_more_after_watching_a_to_b(cophy_project):
    from apps.cophy import services
    from apps.core.models import Item

    project = cophy_project("observed", "counterfactual_only")
    examples = [scenes.tower(str(n)) for n in range(1, 4)] + [scenes.balls()]
    assert services.scenes_import(project=project, upload=scenes.zip_file(examples)).ok
    rng = random.Random(5)
    right = {"observed": [], "counterfactual_only": []}
    errors = {"observed": [], "counterfactual_only": []}
    for item in Item.objects.filter(project=project):
        example = next(e for e in examples if e.example_id == item.payload["example_id"])
        truth = scoring.truth_of(example)
        for _ in range(60):
            value = services.answer_simulate(item=item, rng=rng)
            score = scoring.answer_score(example, truth, value)
            if truth.question == "tower":
                right[item.payload["condition"]] += score.blocks
            else:
                errors[item.payload["condition"]].append(score.error)
    observed, alone = np.mean(right["observed"]), np.mean(right["counterfactual_only"])
    assert 0.75 < observed < 0.85 and 0.6 < alone < 0.75
    assert np.mean(errors["observed"]) < np.mean(errors["counterfactual_only"])
