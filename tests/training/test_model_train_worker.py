"""The model loop end to end: the Models tab's Train button → a real Celery worker on Redis →
ModelVersion + Predictions → priorities and next_item. Needs Redis (skips without it)."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.core.engine import next_item
from apps.core.jobs import jobs_fail_stale
from apps.core.models import Item, Job
from apps.training.models import ModelVersion, Prediction
from tests.factories import ParticipantFactory

from .conftest import humor_items, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TINY = {
    "target": "binary",
    "label_source": "reaction",
    "epochs": "1",
    "lr": "0.00005",
    "batch_size": "16",
    "max_samples": "200",
    "encoder": "",
    "seed": "13",
}


def _train(client, project, **overrides) -> Job:
    before = set(Job.objects.values_list("pk", flat=True))
    response = client.post(
        reverse("training:model_train", args=[project.slug]), {**TINY, **overrides}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    (job,) = Job.objects.exclude(pk__in=before)
    return job


def _done(job: Job):
    job.refresh_from_db()
    return job if job.is_done else None


def test_a_training_job_started_from_the_models_tab_trains_predicts_and_reorders_the_queue(
    client, researcher, humor_project, celery_worker
):
    items = humor_items(humor_project, 240)
    sample = {i.pk for i in items[::40]}  # the task type's study sample (base priority)
    Item.objects.filter(pk__in=sample).update(priority=1.0)
    client.force_login(researcher)
    url = reverse("training:settings", args=[humor_project.slug])
    assert client.post(url, {"active_learning": "uncertainty"}).status_code == 302

    job = _train(client, humor_project)
    assert job.status == Job.Status.QUEUED
    wait_for(lambda: _done(job), timeout=180, worker=celery_worker, what="the training job")
    assert job.status == Job.Status.SUCCEEDED, (
        f"{job.message}\n{job.log_tail}\n{celery_worker.log()}"
    )

    version = ModelVersion.objects.get(project=humor_project)
    assert version.number == 1 and version.job_id == job.pk and version.seed == 13
    assert version.config["epochs"] == 1 and version.config["target"] == "binary"
    assert version.data_snapshot["counts"]["train_examples"] == 192  # 80 % of 240
    assert set(version.metrics) >= {"f1", "auc", "n_train", "n_test"}
    assert 0 <= version.metrics["f1"] <= 1 and version.code_version
    assert default_storage.exists(f"{version.artifact}/model.safetensors")
    assert default_storage.exists(f"{version.artifact}/chorus_config.json")
    assert Prediction.objects.filter(model_version=version).count() == len(items)

    # The first version becomes active and, with active learning on, sets the priorities.
    uncertainty = dict(
        Prediction.objects.filter(model_version=version).values_list("item_id", "uncertainty")
    )

    def model_priorities():
        rows = Item.objects.filter(project=humor_project).values_list("pk", "model_priority")
        return dict(rows) == pytest.approx(uncertainty)

    wait_for(model_priorities, timeout=30, worker=celery_worker, what="the model's priorities")
    priorities = dict(
        Item.objects.filter(project=humor_project).values_list("pk", "model_priority")
    )
    assert len(set(priorities.values())) > 1  # changed from the all-zero start
    base = dict(Item.objects.filter(project=humor_project).values_list("pk", "priority"))
    assert base == {i.pk: (1.0 if i.pk in sample else 0.0) for i in items}  # the sample stays

    # Training a model keeps the study sample first: its most uncertain post is served.
    served = next_item(participant=ParticipantFactory(project=humor_project)).assignment
    assert served.item_id == max(sample, key=lambda pk: (uncertainty[pk], -pk))

    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert 'data-version="1"' in page and "Active" in page and "f1" in page
    card = client.get(
        reverse("training:job_detail", args=[humor_project.slug, job.pk]), HTTP_HX_REQUEST="true"
    )
    assert "Succeeded" in card.content.decode() and card["HX-Trigger"] == "job-finished"

    # Posts imported after training get predictions from the stored artifact alone.
    new = humor_items(humor_project, 20, seed=7, prefix="late")
    assert (
        "Predict new items"
        in client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    )
    before = set(Job.objects.values_list("pk", flat=True))
    response = client.post(reverse("training:predict", args=[humor_project.slug, version.pk]))
    assert response.status_code == 302
    (predict_job,) = Job.objects.exclude(pk__in=before)
    wait_for(lambda: _done(predict_job), timeout=120, worker=celery_worker, what="prediction")
    assert predict_job.status == Job.Status.SUCCEEDED, predict_job.message
    assert predict_job.result == {"predicted": 20}
    late = Prediction.objects.filter(model_version=version, item__in=new)
    assert late.count() == 20
    assert {i.pk: i.model_priority for i in Item.objects.filter(pk__in=[n.pk for n in new])} == (
        pytest.approx(dict(late.values_list("item_id", "uncertainty")))
    )


def test_a_worker_killed_mid_training_leaves_no_half_version_and_the_job_is_retried(
    client, researcher, humor_project, celery_worker
):
    humor_items(humor_project, 300)
    client.force_login(researcher)
    job = _train(client, humor_project, batch_size="8", max_samples="120")

    def training_midway():
        job.refresh_from_db()
        return job.status == Job.Status.RUNNING and 0.1 <= job.progress < 0.7

    wait_for(training_midway, timeout=120, worker=celery_worker, what="training to be midway")
    celery_worker.kill()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.attempts == 1
    assert ModelVersion.objects.filter(project=humor_project).count() == 0

    assert job.lease_owner and job.lease_expires_at is not None

    # The dead worker's lease runs out (3 s in the worker's settings); the housekeeping task
    # then queues the job again and sends it. The broker also redelivers the unacknowledged
    # message: whichever copy comes first takes the lease, the other does nothing.
    wait_for(
        lambda: Job.objects.get(pk=job.pk).lease_expires_at < timezone.now(),
        timeout=30,
        what="the dead worker's lease to run out",
    )
    jobs_fail_stale()
    celery_worker.start()
    wait_for(lambda: _done(job), timeout=180, worker=celery_worker, what="the retried job")
    assert job.status == Job.Status.SUCCEEDED, f"{job.message}\n{job.log_tail}"
    assert job.attempts == 2 and "Attempt 2" in job.log_tail
    assert job.lease_owner == "" and job.lease_expires_at is None
    (version,) = ModelVersion.objects.filter(project=humor_project)
    assert version.predictions.count() == 300
    folders, _ = default_storage.listdir(f"models/{humor_project.pk}")
    assert folders == [version.artifact.rsplit("/", 1)[1]]  # the killed try's files are gone


def test_bad_configs_fail_the_job_with_their_message_and_cancel_stops_a_run(
    client, researcher, humor_project, celery_worker
):
    client.force_login(researcher)
    humor_items(humor_project, 40, labelled=False)

    empty = _train(client, humor_project)
    wait_for(lambda: _done(empty), timeout=120, worker=celery_worker, what="the empty-set job")
    assert empty.status == Job.Status.FAILED
    assert "Empty training set" in empty.message and "reaction label" in empty.message
    card = client.get(
        reverse("training:job_detail", args=[humor_project.slug, empty.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'role="alert"' in card and "Empty training set" in card

    Item.objects.filter(project=humor_project).delete()
    humor_items(humor_project, 200)
    unknown = _train(client, humor_project, encoder="no-such-org/no-such-encoder")
    wait_for(lambda: _done(unknown), timeout=120, worker=celery_worker, what="the bad-encoder job")
    assert unknown.status == Job.Status.FAILED
    assert "no-such-org/no-such-encoder" in unknown.message
    assert "cannot be loaded offline" in unknown.message
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert "cannot be loaded offline" in page

    cancelled = _train(client, humor_project, batch_size="4")

    def running():
        cancelled.refresh_from_db()
        return cancelled.status == Job.Status.RUNNING and cancelled.progress > 0.05

    wait_for(running, timeout=120, worker=celery_worker, what="the job to run")
    response = client.post(reverse("training:job_cancel", args=[humor_project.slug, cancelled.pk]))
    assert response.status_code == 302
    wait_for(
        lambda: "cancelled" in Job.objects.get(pk=cancelled.pk).log_tail,
        timeout=60,
        worker=celery_worker,
        what="the worker to stop the cancelled run",
    )
    cancelled.refresh_from_db()
    assert cancelled.status == Job.Status.CANCELLED
    assert ModelVersion.objects.filter(project=humor_project).count() == 0
