"""The context classifier through the model loop: records from the stage-1 decisions, a real
in-process training job, its dev metrics recomputed here from the stored artifact, and its
predictions ordering the unanswered stage-1 questions uncertain first in the engine."""

from __future__ import annotations

import json
import math

import pytest
import torch
from django.test import TestCase
from sklearn.metrics import accuracy_score, f1_score

from apps.core.engine import next_item
from apps.core.jobs import job_create, job_start
from apps.core.models import Item
from apps.situatedqa.trainer import SITUATEDQA_TRAINER
from apps.training import services
from apps.training.models import ModelVersion, Prediction
from ml.situatedqa.data import training_set
from ml.situatedqa.predict import Predictor

from .conftest import CHIHUAHUA, ENERGY, ENGLAND, WEED, answer, person, root, upload

pytestmark = pytest.mark.django_db

SMOKE = SITUATEDQA_TRAINER.smoke_config
NEW_QUESTIONS = [
    {"question": "who is the current president of france", "id": "n1", "variant": "temp"},
    {"question": "what is the tallest building in the world", "id": "n2", "variant": "temp"},
    {"question": "what colour is a banana", "id": "n3", "variant": "temp"},
    {"question": "asdf qwer zxcv", "id": "bad", "variant": "temp"},
]


@pytest.fixture
def eager_tasks():
    """Tasks sent on commit run in this process, as the worker would run them."""
    from config.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = saved


@pytest.fixture
def labelled(study):
    """The pipeline study plus unanswered questions and one the crowd calls malformed."""
    lines = "".join(json.dumps(q) + "\n" for q in NEW_QUESTIONS).encode()
    assert upload(study, lines, "questions.jsonl").ok
    bad = root(study, "temp", "bad")
    for name in ("D", "E", "F"):
        answer(bad, person(study, name), {"dependent": "malformed"})
    return study


def _train(project, settings) -> ModelVersion:
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    job = job_create(kind=services.TRAIN_JOB_KIND, project=project, params={"config": SMOKE})
    job_start(job)
    services.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message + job.log_tail
    return ModelVersion.objects.get(project=project)


def test_records_label_each_stage1_question_by_its_decision(labelled):
    records = SITUATEDQA_TRAINER.records(labelled, SITUATEDQA_TRAINER.Config())
    json.dumps(records)
    by_item = {r["item_id"]: r for r in records}
    stage1 = Item.objects.filter(project=labelled, stage="identify", parent=None)
    assert sorted(by_item) == sorted(stage1.values_list("pk", flat=True))
    expected = {
        ("temp", ENGLAND): "temporal",  # yes, yes, maybe: dependent
        ("temp", CHIHUAHUA): "neither",
        ("temp", ENERGY): "neither",  # one yes in three
        ("geo", WEED): "geographic",
        ("temp", "bad"): None,  # malformed teaches nothing
        ("temp", "n1"): None,  # not answered yet
    }
    for (variant, qid), label in expected.items():
        item = root(labelled, variant, qid)
        assert by_item[item.pk] == {
            "item_id": item.pk,
            "text": item.payload["question"],
            "label": label,
        }


def test_a_training_job_scores_dev_and_serves_the_most_uncertain_question_first(
    labelled, settings, tmp_path, eager_tasks
):
    version = _train(labelled, settings)
    stage1 = set(
        Item.objects.filter(project=labelled, stage="identify").values_list("pk", flat=True)
    )
    predictions = {p.item_id: p for p in Prediction.objects.filter(model_version=version)}
    assert set(predictions) == stage1  # every stage-1 question, nothing else
    for p in predictions.values():
        probs = p.value["probabilities"]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
        assert p.value["label"] == max(probs, key=probs.get)
        entropy = -sum(q * math.log(q) for q in probs.values() if q > 0) / math.log(3)
        assert p.uncertainty == pytest.approx(entropy, abs=1e-3)

    # The dev figures, recomputed from the stored artifact on the dev questions of the run.
    records = SITUATEDQA_TRAINER.records(labelled, SITUATEDQA_TRAINER.Config())
    config = SITUATEDQA_TRAINER.Config.from_dict(SMOKE)
    dev = training_set(
        records,
        max_official_rows=config.max_official_rows,
        max_dev_rows=config.max_dev_rows,
        seed=config.seed,
    ).dev
    local = services.artifact_local_dir(version, tmp_path / "artifact")
    out = Predictor(local, torch.device("cpu")).predict([{"text": e.text} for e in dev])
    gold, guess = [e.label for e in dev], [o.label for o in out]
    assert version.metrics["n_test"] == len(dev) == SMOKE["max_dev_rows"]
    assert version.metrics["accuracy"] == pytest.approx(accuracy_score(gold, guess))
    assert version.metrics["macro_f1"] == pytest.approx(f1_score(gold, guess, average="macro"))
    assert version.metrics["n_train"] == SMOKE["max_official_rows"] + 5  # + the 5 decided
    assert set(dict(SITUATEDQA_TRAINER.metrics)) <= set(version.metrics)

    with TestCase.captureOnCommitCallbacks(execute=True):
        services.modelversion_activate(project=labelled, version=version)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.modelloop_settings_update(
            project=labelled, prefill=False, active_learning="uncertainty"
        )
    open_ids = [root(labelled, "temp", q["id"]).pk for q in NEW_QUESTIONS[:3]]
    most_uncertain = max(open_ids, key=lambda pk: predictions[pk].uncertainty)
    priorities = dict(Item.objects.filter(pk__in=open_ids).values_list("pk", "model_priority"))
    assert priorities == {pk: pytest.approx(predictions[pk].uncertainty) for pk in open_ids}
    served = next_item(participant=person(labelled, "G")).assignment
    assert served.item_id == most_uncertain
