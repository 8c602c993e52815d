"""The qualification step over HTTP: consent → instructions → qualification → annotate; a pass,
a failure (screen-out page and code) and an expired pass that is checked again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.core.models import Annotation, Assignment, Participant
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "pp-q", "STUDY_ID": "st", "SESSION_ID": "se"}


@pytest.fixture
def qualified_project(project):
    project.task_type = "test-choice-qualified"
    project.screen_out_code = "SCREEN42"
    project.save()
    for i in range(3):
        ItemFactory(project=project, external_id=f"q{i}")
    return project


def through_instructions(client: Client, project) -> None:
    client.get(f"/p/{project.slug}/", PROLIFIC)
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    response = client.post(f"/p/{project.slug}/instructions/")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{project.slug}/qualification/"


def test_the_qualification_comes_after_the_instructions_and_before_any_item(
    client, qualified_project
):
    through_instructions(client, qualified_project)
    slug = qualified_project.slug
    assert client.get(f"/p/{slug}/annotate/")["Location"] == f"/p/{slug}/qualification/"
    page = client.get(f"/p/{slug}/qualification/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "A quick check" in html and "What is 2 + 2?" in html
    assert 'type="radio" name="sum" value="4"' in html
    assert Assignment.objects.count() == 0  # nothing reserved before the pass


def test_a_pass_is_stored_and_leads_to_the_items(client, qualified_project):
    through_instructions(client, qualified_project)
    slug = qualified_project.slug
    response = client.post(f"/p/{slug}/qualification/", {"sum": "4"})
    assert response["Location"] == f"/p/{slug}/annotate/"
    participant = Participant.objects.get(external_id="pp-q")
    assert participant.qualification_passed is True
    assert participant.qualification == {"sum": "4"} and participant.qualified_at is not None
    assert participant.status == Participant.Status.ACTIVE
    assert client.get(f"/p/{slug}/annotate/").status_code == 200
    # Passed and still valid: the step is not shown again.
    assert client.get(f"/p/{slug}/qualification/")["Location"] == f"/p/{slug}/annotate/"


def test_a_failure_screens_out_with_the_projects_screen_out_code(client, qualified_project):
    through_instructions(client, qualified_project)
    slug = qualified_project.slug
    response = client.post(f"/p/{slug}/qualification/", {"sum": "5"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/p/{slug}/screened-out/"
    html = response.content.decode()
    assert "not a match" in html
    assert '<p class="code" id="screen-out-code">SCREEN42</p>' in html
    assert "https://app.prolific.com/submissions/complete?cc=SCREEN42" in html
    assert qualified_project.completion_code not in html
    participant = Participant.objects.get(external_id="pp-q")
    assert participant.status == Participant.Status.SCREENED
    assert participant.qualification_passed is False and participant.qualification == {"sum": "5"}
    # Screened out for good: no item, no second try, not even through the entry link.
    for path in ("annotate/", "qualification/", "done/", "?PROLIFIC_PID=pp-q"):
        assert client.get(f"/p/{slug}/{path}")["Location"] == f"/p/{slug}/screened-out/"
    assert client.post(f"/p/{slug}/qualification/", {"sum": "4"})["Location"] == (
        f"/p/{slug}/screened-out/"
    )
    assert Assignment.objects.count() == 0


def test_a_failure_without_a_screen_out_code_asks_to_return_the_study(client, qualified_project):
    qualified_project.screen_out_code = ""
    qualified_project.save()
    through_instructions(client, qualified_project)
    response = client.post(f"/p/{qualified_project.slug}/qualification/", {"sum": "3"}, follow=True)
    html = response.content.decode()
    assert "screen-out-code" not in html and "prolific.com" not in html
    assert "return the study" in html


def test_an_expired_pass_is_checked_again_before_the_next_item(client, qualified_project):
    through_instructions(client, qualified_project)
    slug = qualified_project.slug
    client.post(f"/p/{slug}/qualification/", {"sum": "4"})
    client.get(f"/p/{slug}/annotate/")
    held = Assignment.objects.get()
    # 31 minutes later the 30-minute pass has run out while an item was on screen.
    Participant.objects.update(qualified_at=timezone.now() - timedelta(minutes=31))
    response = client.post(
        f"/p/{slug}/submit/{held.pk}/",
        {"choice": "a", "client_token": "a" * 32},
        HTTP_HX_REQUEST="true",
    )
    # The answer to the held item is kept; the next item waits for the re-check.
    assert Annotation.objects.filter(assignment=held).exists()
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"/p/{slug}/qualification/"
    assert Assignment.objects.count() == 1  # nothing new reserved
    assert client.get(f"/p/{slug}/annotate/")["Location"] == f"/p/{slug}/qualification/"
    page = client.get(f"/p/{slug}/qualification/").content.decode()
    assert "take it once more" in page
    assert client.post(f"/p/{slug}/qualification/", {"sum": "4"})["Location"] == (
        f"/p/{slug}/annotate/"
    )
    assert client.get(f"/p/{slug}/annotate/").status_code == 200
    assert Assignment.objects.count() == 2


def test_failing_the_re_check_screens_out_and_releases_the_held_item(client, qualified_project):
    through_instructions(client, qualified_project)
    slug = qualified_project.slug
    client.post(f"/p/{slug}/qualification/", {"sum": "4"})
    client.get(f"/p/{slug}/annotate/")
    Participant.objects.update(qualified_at=timezone.now() - timedelta(hours=2))
    assert client.get(f"/p/{slug}/annotate/")["Location"] == f"/p/{slug}/qualification/"
    client.post(f"/p/{slug}/qualification/", {"sum": "3"})
    assert Participant.objects.get().status == Participant.Status.SCREENED
    assert Assignment.objects.get().status == Assignment.Status.EXPIRED


def test_the_quality_tab_counts_passes_and_failures(client, qualified_project, viewer):
    for n, answer in enumerate(["4", "4", "5"]):
        worker = Client()
        worker.get(f"/p/{qualified_project.slug}/", {**PROLIFIC, "PROLIFIC_PID": f"w{n}"})
        worker.post(f"/p/{qualified_project.slug}/consent/", {"agree": "yes"})
        worker.post(f"/p/{qualified_project.slug}/instructions/")
        worker.post(f"/p/{qualified_project.slug}/qualification/", {"sum": answer})
    client.force_login(viewer)
    html = client.get(f"/projects/{qualified_project.slug}/quality/").content.decode()
    assert '<div class="value" id="qualification-passed">2</div>' in html
    assert '<div class="value" id="qualification-failed">1</div>' in html
    assert "SCREEN42" in html and "Screened out" in html
    assert "a pass holds for 30 minutes" in html


def test_a_task_type_without_a_qualification_goes_straight_to_the_items(client, project):
    ItemFactory(project=project)
    client.get(f"/p/{project.slug}/", PROLIFIC)
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    response = client.post(f"/p/{project.slug}/instructions/")
    assert response["Location"] == f"/p/{project.slug}/annotate/"
    assert client.get(f"/p/{project.slug}/qualification/")["Location"] == (
        f"/p/{project.slug}/annotate/"
    )


def test_the_screen_out_code_is_set_in_the_settings_form_and_the_api(client, project, researcher):
    client.force_login(researcher)
    response = client.post(
        f"/projects/{project.slug}/",
        {
            "title": project.title,
            "overlap": "3",
            "reservation_minutes": "10",
            "gold_rate": "0",
            "gold_block_after": "5",
            "completion_code": project.completion_code,
            "screen_out_code": " NOPE7 ",
            "config_json": "{}",
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.screen_out_code == "NOPE7"
    assert 'name="screen_out_code"' in client.get(f"/projects/{project.slug}/").content.decode()

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=researcher)}")
    patched = api.patch(
        f"/api/projects/{project.slug}/update/", {"screen_out_code": "API9"}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["screen_out_code"] == "API9"


def test_the_api_lists_each_participants_qualification_result(qualified_project, viewer):
    for n, answer in enumerate(["4", "5"]):
        worker = Client()
        worker.get(f"/p/{qualified_project.slug}/", {**PROLIFIC, "PROLIFIC_PID": f"w{n}"})
        worker.post(f"/p/{qualified_project.slug}/consent/", {"agree": "yes"})
        worker.post(f"/p/{qualified_project.slug}/instructions/")
        worker.post(f"/p/{qualified_project.slug}/qualification/", {"sum": answer})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=viewer)}")
    rows = api.get(f"/api/projects/{qualified_project.slug}/participants/").json()
    by_id = {row["external_id"]: row for row in rows}
    assert by_id["w0"]["qualification_passed"] is True and by_id["w0"]["status"] == "active"
    assert by_id["w1"]["qualification_passed"] is False and by_id["w1"]["status"] == "screened"
