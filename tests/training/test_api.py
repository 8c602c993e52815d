"""The model loop over REST: list, train, activate, predictions, job status; roles."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.models import Job
from apps.training.models import ModelLoopSettings, ModelVersion, Prediction
from tests.training.conftest import humor_items

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def version_with_predictions(project) -> ModelVersion:
    items = humor_items(project, 5)
    version = ModelVersion.objects.create(
        project=project,
        number=1,
        trainer="humor",
        seed=13,
        code_version="test",
        config={"target": "binary"},
        metrics={"f1": 0.8, "auc": 0.9},
        data_snapshot={"train": 4, "test": 1, "item_ids": [i.pk for i in items]},
        artifact="models/x",
    )
    Prediction.objects.bulk_create(
        Prediction(
            model_version=version,
            item=item,
            value={"funny": "yes", "p_humorous": 0.7},
            uncertainty=0.6,
        )
        for item in items
    )
    return version


def test_a_researcher_starts_training_and_reads_the_job(
    researcher, humor_project, django_capture_on_commit_callbacks
):
    client = api(researcher)
    with django_capture_on_commit_callbacks() as sent:
        response = client.post(
            f"/api/projects/{humor_project.slug}/models/train/",
            {"epochs": 1, "max_samples": 50},
            format="json",
        )
    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == Job.Status.QUEUED and len(sent) == 1  # enqueued on commit
    assert job.params["config"]["epochs"] == 1 and job.params["config"]["max_samples"] == 50
    assert job.params["config"]["batch_size"] == 16  # the form's default
    status = client.get(f"/api/projects/{humor_project.slug}/jobs/{job.pk}/").json()
    assert status["status"] == "queued" and status["kind"] == job.kind


def test_bad_training_settings_are_field_errors_and_queue_nothing(researcher, humor_project):
    response = api(researcher).post(
        f"/api/projects/{humor_project.slug}/models/train/",
        {"epochs": 0, "target": "nonsense"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"epochs", "target"}
    assert not Job.objects.exists()


def test_versions_predictions_and_activation(researcher, humor_project):
    version = version_with_predictions(humor_project)
    client = api(researcher)
    listed = client.get(f"/api/projects/{humor_project.slug}/models/").json()
    assert [(v["number"], v["active"], v["predictions"]) for v in listed] == [(1, False, 5)]
    assert listed[0]["metrics"] == {"f1": 0.8, "auc": 0.9}
    assert "item_ids" not in listed[0]["data_snapshot_counts"]
    page = client.get(f"/api/projects/{humor_project.slug}/models/{version.pk}/predictions/")
    assert len(page.json()["results"]) == 5 and page.json()["results"][0]["uncertainty"] == 0.6
    activated = client.post(f"/api/projects/{humor_project.slug}/models/{version.pk}/activate/")
    assert activated.status_code == 200 and activated.json()["active"]
    assert ModelLoopSettings.objects.get(project=humor_project).active_version == version


def test_a_viewer_reads_but_cannot_train_or_activate(viewer, humor_project):
    version = version_with_predictions(humor_project)
    client = api(viewer)
    slug = humor_project.slug
    assert client.get(f"/api/projects/{slug}/models/").status_code == 200
    assert client.post(f"/api/projects/{slug}/models/train/", {}, format="json").status_code == 404
    assert client.post(f"/api/projects/{slug}/models/{version.pk}/activate/").status_code == 404
    assert not Job.objects.exists()


def test_an_outsider_and_an_anonymous_caller_get_nothing(outsider, humor_project):
    version = version_with_predictions(humor_project)
    slug = humor_project.slug
    for path in ("models/", f"models/{version.pk}/predictions/", "jobs/1/"):
        assert api(outsider).get(f"/api/projects/{slug}/{path}").status_code == 404
        assert APIClient().get(f"/api/projects/{slug}/{path}").status_code in (401, 403)
