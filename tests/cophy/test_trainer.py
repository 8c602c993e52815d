"""The CoPhyNet trainer through the model loop: a real in-process training job on a study's
scenes (the shipped demo scenes), predictions on every item of each scene, and the model
column of the results page filled from them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from apps.cophy import services
from apps.cophy.models import Scene
from apps.cophy.tasktype import COPHY
from apps.cophy.trainer import COPHY_TRAINER
from apps.core.jobs import job_create, job_start
from apps.core.models import Item
from apps.training import services as training
from apps.training.models import ModelVersion, Prediction
from ml.cophy.metrics import trajectory_mse

pytestmark = pytest.mark.django_db

CONFIG = {"epochs": 2, "batch_size": 8, "hidden": 16, "seed": 3, "cross_count": False}


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def study(cophy_project):
    """Three shipped scenes of each scenario, in both conditions, and a gold scene."""
    from apps.cophy import gold

    project = cophy_project("observed", "counterfactual_only")
    shipped = services.demo_examples()
    picked = [
        e
        for s in ("blocktower", "balls", "collision")
        for e in [x for x in shipped if x.scenario == s][:3]
    ]
    golden = gold.resting_tower("gold-1")
    report = services.scenes_store(
        project=project, examples=[*picked, golden], gold_ids={golden.example_id}
    )
    assert report == 2 * 10
    return project, picked


def test_records_are_one_per_regular_scene_with_every_item_showing_it(study):
    project, picked = study
    records = COPHY_TRAINER.records(project, COPHY_TRAINER.Config())
    json.dumps(records)
    assert sorted(r["example_id"] for r in records) == sorted(e.example_id for e in picked)
    for record in records:
        items = Item.objects.filter(project=project, payload__example_id=record["example_id"])
        assert sorted(record["item_ids"]) == sorted(items.values_list("pk", flat=True))
        assert len(record["item_ids"]) == 2 and record["item_id"] == min(record["item_ids"])
        scene = Scene.objects.get(project=project, example_id=record["example_id"]).example()
        assert np.array_equal(np.asarray(record["ab"], dtype=np.float32), scene.ab)
        assert np.array_equal(np.asarray(record["cd"], dtype=np.float32), scene.cd)
        assert "confounders" not in record  # the model must infer them


def test_a_training_job_predicts_every_item_and_fills_the_model_column(
    study, settings, torch_threads
):
    project, picked = study
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    settings.CHORUS_TORCH_THREADS = 1
    job = job_create(kind=training.TRAIN_JOB_KIND, project=project, params={"config": CONFIG})
    job_start(job)
    training.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message + job.log_tail
    version = ModelVersion.objects.get(project=project)
    assert version.metrics["n_train"] + version.metrics["n_test"] == len(picked)
    assert version.metrics["held_out_mse"] is not None
    regular = Item.objects.filter(project=project, kind=Item.Kind.REGULAR)
    predictions = Prediction.objects.filter(model_version=version)
    assert sorted(predictions.values_list("item_id", flat=True)) == sorted(
        regular.values_list("pk", flat=True)
    )
    held_out = set(version.data_snapshot["held_out_ids"])
    scenes = {e.example_id: e for e in picked}
    mses = {}
    for prediction in predictions.select_related("item"):
        example = scenes[prediction.item.payload["example_id"]]
        positions = np.asarray(prediction.value["positions"])
        assert positions.shape == (example.T - 1, example.K, 3)
        assert prediction.value["split"] == ("test" if example.example_id in held_out else "train")
        if example.scenario == "collision":
            mses[example.example_id] = trajectory_mse(positions, example.cd, "collision")
    results = COPHY.results(project)
    table4 = next(t for t in results.tables if t.title.startswith("CoPhy Table 4"))
    # Each scene's prediction is stored on both of its items; the mean is one per scene.
    assert table4.rows[0][5] == f"{np.mean(list(mses.values())):.4f} (n={len(mses)})"
    mse_table = next(t for t in results.tables if t.title.startswith("Trajectory MSE"))
    collision = next(r for r in mse_table.rows if r[0] == "Collision")
    assert collision[mse_table.columns.index("Model v1")] == table4.rows[0][5]
