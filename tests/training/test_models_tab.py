"""The Models tab over HTTP: who may see and do what, the Train form's validation, htmx partials."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.core.models import Job
from apps.training.models import ModelLoopSettings, ModelVersion
from apps.training.selectors import TRAIN_JOB_KIND

pytestmark = pytest.mark.django_db

GOOD = {
    "target": "binary",
    "label_source": "reaction",
    "epochs": "1",
    "lr": "0.00002",
    "batch_size": "16",
    "max_samples": "",
    "encoder": "",
    "seed": "13",
}


def _version(project, number: int, **metrics) -> ModelVersion:
    return ModelVersion.objects.create(
        project=project,
        number=number,
        trainer="humor",
        seed=13,
        code_version="test",
        config={"target": "binary", "label_source": "reaction", "epochs": 1, "encoder": ""},
        metrics=metrics,
        artifact=f"models/{project.pk}/job-x{number}",
    )


def test_an_outsider_gets_404_for_every_models_page(client, outsider, humor_project):
    client.force_login(outsider)
    job = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND)
    version = _version(humor_project, 1)
    slug = humor_project.slug
    assert client.get(reverse("training:model_list", args=[slug])).status_code == 404
    assert client.post(reverse("training:model_train", args=[slug]), GOOD).status_code == 404
    assert (
        client.post(
            reverse("training:settings", args=[slug]), {"active_learning": "uncertainty"}
        ).status_code
        == 404
    )
    assert client.post(reverse("training:activate", args=[slug, version.pk])).status_code == 404
    assert (
        client.get(
            reverse("training:job_detail", args=[slug, job.pk]), HTTP_HX_REQUEST="true"
        ).status_code
        == 404
    )
    assert client.post(reverse("training:job_cancel", args=[slug, job.pk])).status_code == 404
    assert Job.objects.count() == 1 and not ModelLoopSettings.objects.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client, humor_project):
    response = client.get(reverse("training:model_list", args=[humor_project.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_viewer_sees_versions_but_cannot_train_activate_or_cancel(client, viewer, humor_project):
    client.force_login(viewer)
    _version(humor_project, 1, f1=0.81, auc=0.9)
    job = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND, status=Job.Status.RUNNING)
    slug = humor_project.slug
    page = client.get(reverse("training:model_list", args=[slug])).content.decode()
    assert "0.810" in page and "Viewers cannot start training." in page and "Cancel" not in page
    assert client.post(reverse("training:model_train", args=[slug]), GOOD).status_code == 404
    assert client.post(reverse("training:job_cancel", args=[slug, job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and Job.objects.count() == 1


def test_the_train_button_queues_a_job_with_the_form_config(
    client, researcher, humor_project, settings
):
    settings.CHORUS_TEXT_ENCODER = ""
    client.force_login(researcher)
    response = client.post(
        reverse("training:model_train", args=[humor_project.slug]),
        {**GOOD, "max_samples": "300", "encoder": " roberta-base "},
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert (
        job.kind == TRAIN_JOB_KIND
        and job.status == Job.Status.QUEUED
        and job.created_by == researcher
    )
    assert job.params["config"] == {
        "target": "binary",
        "label_source": "reaction",
        "epochs": 1,
        "lr": 2e-05,
        "batch_size": 16,
        "max_samples": 300,
        "encoder": "roberta-base",
        "seed": 13,
        # Advanced settings are not on the form; their defaults are recorded all the same.
        "max_length": 128,
        "test_fraction": 0.2,
        "weight_decay": 0.01,
        "warmup_ratio": 0.06,
    }


def test_the_server_encoder_setting_fills_an_empty_encoder_field(
    client, researcher, humor_project, settings
):
    settings.CHORUS_TEXT_ENCODER = "/models/bertweet-base"
    client.force_login(researcher)
    client.post(reverse("training:model_train", args=[humor_project.slug]), GOOD)
    assert Job.objects.get().params["config"]["encoder"] == "/models/bertweet-base"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", "0", "greater than or equal to 1"),
        ("target", "ordinal", "Select a valid choice"),
        ("lr", "lots", "Enter a number"),
        ("batch_size", "", "This field is required"),
        ("max_samples", "-5", "greater than or equal to 1"),
    ],
)
def test_a_bad_train_form_names_the_field_and_queues_nothing(
    client, researcher, humor_project, field, value, message
):
    client.force_login(researcher)
    response = client.post(
        reverse("training:model_train", args=[humor_project.slug]),
        {**GOOD, field: value},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#train-form"
    body = response.content.decode()
    assert message in body and f'id="id_{field}"' in body and 'id="train-form"' in body
    plain = client.post(
        reverse("training:model_train", args=[humor_project.slug]), {**GOOD, field: value}
    )
    assert plain.status_code == 400 and message in plain.content.decode()
    assert not Job.objects.exists()


def test_a_task_type_without_a_trainer_says_so_and_queues_nothing(client, researcher, project):
    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[project.slug])).content.decode()
    assert "No model can be trained for this task type yet." in page
    response = client.post(reverse("training:model_train", args=[project.slug]), GOOD)
    assert response.status_code == 400 and not Job.objects.exists()


def test_versions_are_listed_side_by_side_with_their_metrics(client, researcher, humor_project):
    _version(humor_project, 1, f1=0.5, auc=0.61, n_train=100)
    _version(humor_project, 2, f1=0.75, auc=0.8, n_train=200, pearson_r=0.4)
    client.force_login(researcher)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(
            reverse("training:model_list", args=[humor_project.slug])
        ).content.decode()
    assert page.index('data-version="2"') < page.index('data-version="1"')
    for cell in ("0.500", "0.610", "0.750", "0.800", "200", "0.400"):
        assert cell in page
    assert page.count("Use this one") == 2  # nothing active yet
    assert len(queries) < 20


def test_choosing_a_version_makes_it_active(client, researcher, humor_project):
    _version(humor_project, 1)
    v2 = _version(humor_project, 2)
    client.force_login(researcher)
    response = client.post(
        reverse("training:activate", args=[humor_project.slug, v2.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and 'id="versions"' in response.content.decode()
    assert ModelLoopSettings.objects.get(project=humor_project).active_version == v2


def test_a_version_of_another_project_cannot_be_activated(
    client, researcher, humor_project, project
):
    other = _version(project, 1)
    client.force_login(researcher)
    response = client.post(reverse("training:activate", args=[humor_project.slug, other.pk]))
    assert response.status_code == 404
    assert not ModelLoopSettings.objects.filter(active_version=other).exists()


def test_prefill_is_off_until_a_researcher_turns_it_on(client, researcher, humor_project):
    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert 'name="prefill"' in page and 'name="prefill" checked' not in page
    response = client.post(
        reverse("training:settings", args=[humor_project.slug]),
        {"prefill": "on", "active_learning": "margin"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "Saved." in response.content.decode()
    loop = ModelLoopSettings.objects.get(project=humor_project)
    assert loop.prefill is True and loop.active_learning == "margin"


def test_an_unknown_active_learning_mode_is_refused(client, researcher, humor_project):
    client.force_login(researcher)
    response = client.post(
        reverse("training:settings", args=[humor_project.slug]), {"active_learning": "random"}
    )
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not ModelLoopSettings.objects.exists()


def test_the_job_card_polls_while_running_and_stops_when_done(client, researcher, humor_project):
    client.force_login(researcher)
    job = Job.objects.create(
        project=humor_project,
        kind=TRAIN_JOB_KIND,
        status=Job.Status.RUNNING,
        progress=0.42,
        message="epoch 1/1 · step 3/10",
    )
    url = reverse("training:job_detail", args=[humor_project.slug, job.pk])
    running = client.get(url, HTTP_HX_REQUEST="true")
    body = running.content.decode()
    assert 'hx-trigger="every 1s"' in body and 'aria-valuenow="42"' in body and "step 3/10" in body
    assert "HX-Trigger" not in running
    job.status, job.message = Job.Status.FAILED, "Empty training set: no labels."
    job.save()
    done = client.get(url, HTTP_HX_REQUEST="true")
    body = done.content.decode()
    assert "every 1s" not in body and 'role="alert"' in body and "Empty training set" in body
    assert done["HX-Trigger"] == "job-finished"


def test_cancel_stops_a_queued_job(client, researcher, humor_project):
    client.force_login(researcher)
    job = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND)
    response = client.post(
        reverse("training:job_cancel", args=[humor_project.slug, job.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "Cancelled" in response.content.decode()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_versions_are_labelled_by_number_and_time_and_keep_the_code_as_a_tooltip(
    client, researcher, humor_project
):
    version = _version(humor_project, 3, f1=0.5, n_train=100, n_test=30)
    version.created_at = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
    version.code_version = "3b8c7ca739a1+ml.57ef6574d7"
    version.save()
    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert 'title="code 3b8c7ca739a1+ml.57ef6574d7">v3 · 2 Dec 14:05</strong>' in page
    assert page.count("3b8c7ca739a1") == 1  # only in the tooltip


def test_job_numbers_count_within_the_project_and_the_url_keeps_the_id(
    client, researcher, humor_project, project
):
    for _ in range(3):  # another project's jobs come first: global ids 1-3
        Job.objects.create(project=project, kind=TRAIN_JOB_KIND, status=Job.Status.SUCCEEDED)
    Job.objects.create(project=humor_project, kind="items_import", status=Job.Status.SUCCEEDED)
    first = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND)
    second = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND)
    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert "Training #1</strong>" in page and "Training #2</strong>" in page
    assert f"Training #{first.pk}</strong>" not in page
    assert reverse("training:job_detail", args=[humor_project.slug, second.pk]) in page
    card = client.get(
        reverse("training:job_detail", args=[humor_project.slug, second.pk]),
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Training #2</strong>" in card
    response = client.post(
        reverse("training:job_cancel", args=[humor_project.slug, first.pk]), follow=True
    )
    assert "Job #1 cancelled." in response.content.decode()


def test_a_version_trained_on_a_handful_of_items_warns_beside_its_metrics(
    client, researcher, humor_project
):
    _version(humor_project, 1, f1=0.0, accuracy=0.0, n_train=4, n_test=1)
    _version(humor_project, 2, f1=0.8, accuracy=0.8, n_train=400, n_test=100)
    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    small = page[page.index('data-version="1"') :]
    assert '<tr data-version="1" class="too-little">' in page
    assert '<tr data-version="2" class="too-little">' not in page
    assert "Too little data</span>" in small
    assert "v1: Too little data: trained on 4 labelled items and scored on 1 test item" in small
    assert 'data-warning-for="2"' not in page
    # The warning row spans the whole table.
    columns = len(re.findall(r"<th[ >]", page[page.index("<thead>") : page.index("</thead>")]))
    assert f'<td colspan="{columns}" role="note">v1: Too little data' in page
