"""A training job run in this process on a handful of posts: the CPU thread setting is used
and logged, and the Models tab warns that so few posts make its metrics meaningless."""

from __future__ import annotations

import pytest
import torch
from django.urls import reverse

from apps.core.jobs import job_create, job_start
from apps.training import services
from apps.training.models import ModelVersion
from apps.training.trainers import get

from .conftest import humor_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def torch_threads():
    """Gives the test's thread changes back to the rest of the run."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_cpu_run_on_twelve_posts_uses_the_thread_setting_and_warns_of_too_little_data(
    client, researcher, humor_project, settings, torch_threads
):
    settings.CHORUS_TRAIN_DEVICE = "cpu"
    settings.CHORUS_TORCH_THREADS = 1
    humor_items(humor_project, 12)
    job = job_create(
        kind=services.TRAIN_JOB_KIND,
        project=humor_project,
        params={"config": get("humor").smoke_config},
    )
    job_start(job)
    services.training_run(job=job)
    job.refresh_from_db()
    assert job.status == job.Status.SUCCEEDED, job.message + job.log_tail
    assert "training on cpu (1 thread)" in job.log_tail
    assert torch.get_num_threads() == 1
    version = ModelVersion.objects.get(project=humor_project)
    assert version.metrics["n_train"] < 20

    client.force_login(researcher)
    page = client.get(reverse("training:model_list", args=[humor_project.slug])).content.decode()
    assert f'<tr data-version="{version.number}" class="too-little">' in page
    n_train = version.metrics["n_train"]
    assert f"trained on {n_train} labelled items" in page
    assert "Training #1</strong>" in page
