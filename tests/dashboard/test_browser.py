"""A researcher's day in a real browser: create a project, upload items, launch, watch
progress after simulated answers, block a participant, download the export."""

from __future__ import annotations

import json
import os

import pytest

from apps.core.models import Participant, Project
from tests.api.helpers import answer_through_engine
from tests.factories import ParticipantFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        browser.close()


def test_a_researcher_runs_a_study_from_the_dashboard(live_server, page, tmp_path):
    UserFactory(username="ada")
    page.on("dialog", lambda dialog: dialog.accept())  # yes to every "are you sure?"
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "pw-chorus-123")
    page.click("button[type=submit]")

    page.click("text=New project")
    # Choosing a task type swaps its settings fields in (htmx): choose first, then type.
    page.select_option("#id_task_type_key", "test-choice")
    page.wait_for_load_state("networkidle")
    page.fill("#id_title", "Browser study")
    page.fill("#id_slug", "browser-study")
    page.fill("#id_overlap", "2")
    page.click("button:has-text('Create project')")
    page.wait_for_url("**/projects/browser-study/data/")

    data = tmp_path / "items.jsonl"
    data.write_text(
        "".join(json.dumps({"id": f"i{n}", "text": f"Item {n}"}) + "\n" for n in range(3))
    )
    page.set_input_files("#id_file", str(data))
    page.click("button:has-text('Upload and import')")
    assert "3 items stored." in page.inner_text("#import-ok")
    assert page.locator("#preview tbody tr").count() == 3

    page.click("nav.tabs >> text=Launch")
    page.click("button:has-text('Launch')")
    assert page.inner_text("#project-status") == "Live"
    project = Project.objects.get(slug="browser-study")
    assert project.status == Project.Status.LIVE

    good = ParticipantFactory(project=project, external_id="good")
    bad = ParticipantFactory(project=project, external_id="bad")
    assert answer_through_engine(good, lambda item: "a") == 3
    assert answer_through_engine(bad, lambda item: "b") == 3

    page.click("nav.tabs >> text=Progress")
    assert page.inner_text("[data-stat=items_complete]") == "3 / 3"
    assert page.inner_text("[data-stat=answers]") == "6 / 6"
    assert page.inner_text("[data-stat=participants]") == "2"

    page.click("nav.tabs >> text=Quality")
    page.click(f"#p-{bad.public_id} button:has-text('Block')")
    assert "Blocked" in page.inner_text(f"#p-{bad.public_id}")
    bad.refresh_from_db()
    assert bad.status == Participant.Status.BLOCKED

    page.click("nav.tabs >> text=Export")
    with page.expect_download() as info:
        page.click("#downloads tr:has-text('annotations') >> text=CSV")
    download = info.value
    assert download.suggested_filename == "browser-study-annotations.csv"
    lines = open(download.path(), encoding="utf-8").read().splitlines()
    assert len(lines) == 1 + 6
    assert sum("blocked" in line for line in lines) == 3  # kept, and marked


def test_launch_and_block_ask_first_and_a_no_changes_nothing(live_server, page):
    from tests.factories import ItemFactory, ProjectFactory

    owner = UserFactory(username="grace")
    project = ProjectFactory(owner=owner, slug="asks", status=Project.Status.DRAFT)
    ItemFactory(project=project)
    worker = ParticipantFactory(project=project, external_id="w1")
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "grace")
    page.fill("#id_password", "pw-chorus-123")
    page.click("button[type=submit]")

    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.goto(f"{live_server.url}/projects/asks/launch/")
    page.once("dialog", lambda d: answer(d, False))
    page.click("button:has-text('Launch')")
    page.wait_for_load_state("networkidle")
    assert questions[-1].startswith("Open the study?")
    project.refresh_from_db()
    assert project.status == Project.Status.DRAFT
    page.once("dialog", lambda d: answer(d, True))
    page.click("button:has-text('Launch')")
    page.wait_for_url("**/launch/")
    page.wait_for_selector("#project-status:has-text('Live')")
    project.refresh_from_db()
    assert project.status == Project.Status.LIVE

    page.goto(f"{live_server.url}/projects/asks/quality/")
    page.once("dialog", lambda d: answer(d, False))
    page.click(f"#p-{worker.public_id} button:has-text('Block')")
    page.wait_for_load_state("networkidle")
    assert questions[-1] == (
        "Block Prolific · w1? Their answers stop counting and their items are offered to others."
    )
    assert Participant.objects.get(pk=worker.pk).status == Participant.Status.ACTIVE
