"""The Models tab in headless Chromium: job cards poll themselves, cancel works, and the
versions table reloads when a job ends."""

from __future__ import annotations

import os

import pytest

from apps.core.models import Job
from apps.training.models import ModelVersion
from apps.training.selectors import TRAIN_JOB_KIND
from tests.e2e.browser import browser_page

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, researcher):
    with browser_page() as page:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", researcher.username)
        page.fill("#id_password", "pw-chorus-123")
        page.locator("form [type=submit]").click()
        page.wait_for_url(f"{live_server.url}/")
        yield page


def test_a_running_job_card_updates_itself_and_the_versions_table_follows(
    live_server, page, humor_project
):
    job = Job.objects.create(
        project=humor_project,
        kind=TRAIN_JOB_KIND,
        status=Job.Status.RUNNING,
        progress=0.25,
        message="epoch 1/1 · step 1/4",
    )
    page.goto(f"{live_server.url}/projects/{humor_project.slug}/models/")
    card = page.locator(f"#job-{job.pk}")
    assert card.locator("[role=progressbar]").get_attribute("aria-valuenow") == "25"
    assert page.locator("#versions").inner_text().count("No model trained yet.") == 1

    Job.objects.filter(pk=job.pk).update(progress=0.75, message="epoch 1/1 · step 3/4")
    page.wait_for_function(
        f"() => document.querySelector('#job-{job.pk} [role=progressbar]')"
        ".getAttribute('aria-valuenow') === '75'"
    )
    assert "step 3/4" in card.inner_text()

    ModelVersion.objects.create(
        project=humor_project,
        number=1,
        trainer="humor",
        seed=13,
        code_version="t",
        artifact="x",
        job=job,
        metrics={"f1": 0.875, "auc": 0.9},
    )
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED, progress=1.0)
    page.locator(f"#job-{job.pk}[data-status=succeeded]").wait_for()
    page.locator('#versions tr[data-version="1"]').wait_for()  # reloaded on "job-finished"
    assert "0.875" in page.locator("#versions").inner_text()


def test_cancel_on_a_job_card_stops_the_job(live_server, page, humor_project):
    job = Job.objects.create(project=humor_project, kind=TRAIN_JOB_KIND, status=Job.Status.RUNNING)
    page.goto(f"{live_server.url}/projects/{humor_project.slug}/models/")
    page.locator(f"#job-{job.pk}").get_by_role("button", name="Cancel").click()
    page.locator(f"#job-{job.pk}[data-status=cancelled]").wait_for()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED


def test_a_bad_train_form_shows_its_errors_in_place(live_server, page, humor_project):
    page.goto(f"{live_server.url}/projects/{humor_project.slug}/models/")
    # The browser's own check would stop 0 before it is sent; this tests the server's message.
    page.locator("#train-form form").evaluate("form => { form.noValidate = true; }")
    page.fill("#id_epochs", "0")
    page.get_by_role("button", name="Train").click()
    page.locator("#train-form .errorlist").wait_for()
    assert "greater than or equal to 1" in page.locator("#train-form").inner_text()
    assert not Job.objects.exists()


def _versions(project, n: int) -> None:
    """``n`` versions of the continuous target: every metric column the trainer declares."""
    for number in range(1, n + 1):
        ModelVersion.objects.create(
            project=project,
            number=number,
            trainer="humor",
            seed=13,
            code_version="3b8c7ca739a1+ml.57ef6574d7+trainer.e489e60b2d",
            artifact=f"x{number}",
            config={"target": "continuous", "label_source": "both", "epochs": 3, "encoder": ""},
            metrics={
                "f1": 0.818,
                "auc": 0.938,
                "accuracy": 0.833,
                "pearson_r": 0.51,
                "mse": 0.0123,
                "n_train": 4 if number == 1 else 960,
                "n_test": 1 if number == 1 else 240,
            },
        )


@pytest.mark.parametrize("width", [1280, 760])
def test_the_versions_table_stays_inside_its_card(live_server, page, humor_project, width):
    _versions(humor_project, 3)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/projects/{humor_project.slug}/models/")
    box = page.evaluate(
        """() => {
          const card = document.querySelector('#versions').getBoundingClientRect();
          const scroll = document.querySelector('#versions .table-scroll');
          const s = scroll.getBoundingClientRect();
          return {card_left: card.left, card_right: card.right, left: s.left, right: s.right,
                  page: document.documentElement.scrollWidth, view: window.innerWidth,
                  scrolls: scroll.scrollWidth > scroll.clientWidth,
                  overflow: getComputedStyle(scroll).overflowX};
        }"""
    )
    # The table never pushes the card or the page wider; what does not fit scrolls inside.
    assert box["card_left"] <= box["left"] and box["right"] <= box["card_right"], box
    assert box["page"] <= box["view"], box
    if box["scrolls"]:
        assert box["overflow"] == "auto", box
    if width >= 1280:
        assert not box["scrolls"], "every column fits a desktop window"
    # The versions read "v3 · 2 Dec 14:05"; the code hash is only a tooltip.
    label = page.locator('#versions tr[data-version="3"] .version-label')
    assert label.inner_text().startswith("v3 · ")
    assert "3b8c7ca739a1" not in page.locator("#versions").inner_text()
    assert "3b8c7ca739a1" in label.get_attribute("title")
    warning = page.locator('#versions tr[data-warning-for="1"]')
    assert "Too little data" in warning.inner_text()
    assert page.locator('#versions tr[data-warning-for="2"]').count() == 0
