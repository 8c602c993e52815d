"""The participant flow over HTTP: entry, consent, instructions, annotate loop, done, bad input."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.core.models import Annotation, Assignment, Item, Participant, Project
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db

PROLIFIC = {"PROLIFIC_PID": "pp-1", "STUDY_ID": "st", "SESSION_ID": "se"}


def enter(client: Client, project, params=None):
    return client.get(f"/p/{project.slug}/", PROLIFIC if params is None else params)


def start(client: Client, project, params=None):
    enter(client, project, params)
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    return client.get(f"/p/{project.slug}/annotate/")


def form_of(response):
    html = response.content.decode()
    action = re.search(r'action="(/p/[^"]+/submit/\d+/)"', html).group(1)
    token = re.search(r'name="client_token" value="([0-9a-f]+)"', html).group(1)
    return action, token


def test_an_unknown_project_is_a_404(client):
    assert client.get("/p/nope/").status_code == 404


def test_a_prolific_entry_asks_for_consent_which_creates_the_participant(client, project):
    response = enter(client, project)
    assert response.status_code == 302 and response.url.endswith("/consent/")
    assert Participant.objects.count() == 0  # nobody until they consent
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    participant = Participant.objects.get()
    assert (participant.source, participant.external_id, participant.study_id) == (
        "prolific",
        "pp-1",
        "st",
    )


def test_an_mturk_entry_is_recognised(client, project):
    enter(client, project, {"workerId": "W1", "assignmentId": "A1", "hitId": "H1"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    assert Participant.objects.get().source == "mturk"


def test_an_mturk_preview_creates_nobody(client, project):
    response = enter(client, project, {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "H"})
    assert b"Accept the HIT" in response.content
    assert Participant.objects.count() == 0


def test_a_plain_link_creates_an_anonymous_participant(client, project):
    enter(client, project, {})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    assert Participant.objects.get().source == "link"


def test_instructions_markdown_is_sanitised(client, project):
    project.instructions = (
        "**Read** this <script>alert(1)</script> [x](javascript:alert(1)) "
        '<a href="javascript:alert(2)">y</a> <img src=x onerror="alert(3)"> press <kbd>1</kbd>'
    )
    project.save()
    enter(client, project)
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    html = client.get(f"/p/{project.slug}/instructions/").content.decode()
    assert "<strong>Read</strong>" in html
    assert "<script>alert" not in html and 'href="javascript' not in html
    assert "onerror" not in html and "alert(3)" not in html
    assert "<kbd>1</kbd>" in html


def test_declining_consent_records_nothing_and_keeps_the_participant_out(client, project):
    ItemFactory(project=project)
    enter(client, project)
    response = client.post(f"/p/{project.slug}/consent/", {"agree": "no"})
    assert b"did not consent" in response.content
    assert client.get(f"/p/{project.slug}/annotate/").url.endswith("/consent/")


def test_the_annotate_loop_shows_progress_and_stores_answers(client, project):
    ItemFactory.create_batch(3, project=project)
    page = start(client, project)
    assert b"<strong>1</strong> of 3" in page.content
    action, token = form_of(page)
    card = client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    assert card.status_code == 200
    assert b"<strong>2</strong> of 3" in card.content
    assert b"<html" not in card.content  # htmx gets just the item card
    assert Annotation.objects.get().value == {"choice": "a"}


def test_the_last_answer_leads_to_the_done_page_with_the_prolific_redirect(client, project):
    ItemFactory(project=project)
    action, token = form_of(start(client, project))
    response = client.post(action, {"choice": "b", "client_token": token}, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"/p/{project.slug}/done/"
    done = client.get(f"/p/{project.slug}/done/").content.decode()
    assert project.completion_code in done
    assert f"https://app.prolific.com/submissions/complete?cc={project.completion_code}" in done
    assert Participant.objects.get().status == "finished"


def test_coming_back_with_the_same_id_resumes_the_same_item(project):
    ItemFactory.create_batch(3, project=project)
    first = Client()
    action, _ = form_of(start(first, project))
    second = Client()  # another browser, same Prolific id
    response = enter(second, project)
    assert response.url.endswith("/annotate/")
    action_again, _ = form_of(second.get(f"/p/{project.slug}/annotate/"))
    assert action_again == action
    assert Participant.objects.count() == 1


def test_an_invalid_answer_shows_the_error_in_place_and_stores_nothing(client, project):
    ItemFactory(project=project)
    action, token = form_of(start(client, project))
    response = client.post(action, {"choice": "zzz", "client_token": token}, HTTP_HX_REQUEST="true")
    assert b"Choose A or B." in response.content
    assert b'role="alert"' in response.content
    assert Annotation.objects.count() == 0


def test_a_double_click_is_stored_once(client, project):
    ItemFactory.create_batch(2, project=project)
    action, token = form_of(start(client, project))
    client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    assert Annotation.objects.count() == 1
    assert Item.objects.filter(answer_count=1).count() == 1


def test_another_participants_assignment_is_a_404_and_changes_nothing(project):
    ItemFactory.create_batch(2, project=project)
    alice, bob = Client(), Client()
    action, token = form_of(start(alice, project, {"PROLIFIC_PID": "alice"}))
    start(bob, project, {"PROLIFIC_PID": "bob"})
    response = bob.post(action, {"choice": "a", "client_token": token})
    assert response.status_code == 404
    forged = bob.post(f"/p/{project.slug}/submit/999999/", {"choice": "a", "client_token": "x"})
    assert forged.status_code == 404
    assert Annotation.objects.count() == 0


def test_a_request_without_a_session_goes_back_to_the_entry_page(client, project):
    response = client.get(f"/p/{project.slug}/annotate/")
    assert response.status_code == 302 and response.url == f"/p/{project.slug}/"
    htmx = client.post(f"/p/{project.slug}/submit/1/", HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == f"/p/{project.slug}/"


def test_a_project_that_is_not_live_turns_people_away(client, project):
    project.set_status(Project.Status.DRAFT)
    response = enter(client, project)
    assert response.status_code == 403
    assert b"not open" in response.content
    assert Participant.objects.count() == 0


def test_a_blocked_participant_sees_a_friendly_page(client, project):
    ItemFactory(project=project)
    start(client, project)
    Participant.objects.get().block("test")
    response = client.get(f"/p/{project.slug}/annotate/")
    assert response.status_code == 403
    assert b"no longer take part" in response.content


def fill(project):
    """Someone else answers every item, so the study is full."""
    other = Client()
    page = start(other, project, {"PROLIFIC_PID": "first"})
    while b"client_token" in page.content:
        action, token = form_of(page)
        page = other.post(action, {"choice": "a", "client_token": token}, follow=True)


def test_arriving_at_a_full_study_says_so_and_gives_no_completion_code(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    fill(project)
    response = enter(client, project, {"PROLIFIC_PID": "made-up", "STUDY_ID": "s"})
    html = response.content.decode()
    assert response.status_code == 200  # said on entry, before consent and instructions
    assert "This study is full — please return it" in html
    assert "please return the study (“Return submission”)" in html
    assert "there is no completion code" in html
    assert project.completion_code not in html and "prolific.com" not in html
    done = client.get(f"/p/{project.slug}/done/", follow=True).content.decode()
    assert "This study is full" in done and project.completion_code not in done
    assert not Participant.objects.filter(external_id="made-up").exists()  # nothing written


def test_someone_already_in_a_study_that_fills_up_hears_it_with_no_code(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    enter(client, project, {"PROLIFIC_PID": "early"})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    fill(project)
    html = client.get(f"/p/{project.slug}/annotate/").content.decode()
    assert "This study is full — please return it" in html and "Return submission" in html
    assert project.completion_code not in html
    newcomer = Participant.objects.get(external_id="early")
    assert newcomer.status == "active" and newcomer.finished_at is None


def test_the_done_page_without_consent_gives_no_code(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    fill(project)
    enter(client, project, {"PROLIFIC_PID": "made-up"})
    response = client.get(f"/p/{project.slug}/done/", follow=True)
    assert response.redirect_chain[-1][0] == f"/p/{project.slug}/"  # the full study's entry
    assert project.completion_code not in response.content.decode()
    assert not Participant.objects.filter(external_id="made-up").exists()  # made on consent


def test_the_done_page_only_reads(client, project):
    ItemFactory.create_batch(2, project=project)
    start(client, project)
    Assignment.objects.all().delete()
    response = client.get(f"/p/{project.slug}/done/")
    assert response.status_code == 302 and response.url == f"/p/{project.slug}/annotate/"
    assert Participant.objects.get().status == "active"
    assert not Assignment.objects.exists()  # reserved nothing either


def test_skipping_every_item_earns_no_completion_code(client, project):
    ItemFactory(project=project)
    page = start(client, project)
    skip = re.search(r'action="(/p/[^"]+/skip/\d+/)"', page.content.decode()).group(1)
    response = client.post(skip, follow=True)
    html = response.content.decode()
    assert "skipped every item" in html and project.completion_code not in html
    assert Participant.objects.get().status == "active"


def test_a_second_answer_from_another_tab_is_refused_and_the_first_kept(client, project):
    ItemFactory.create_batch(2, project=project)
    first_tab = start(client, project)
    second_tab = client.get(f"/p/{project.slug}/annotate/")  # same item, its own form token
    action, token = form_of(first_tab)
    action_again, token_again = form_of(second_tab)
    assert action_again == action and token_again != token
    client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    response = client.post(
        action, {"choice": "b", "client_token": token_again}, HTTP_HX_REQUEST="true"
    )
    assert "your first answer was kept" in response.content.decode()
    assert b'class="notice" role="status"' in response.content
    assert Annotation.objects.get().value == {"choice": "a"}
    assert b"<strong>2</strong> of 2" in response.content  # and the next item is served


def test_a_late_submit_on_a_filled_item_explains_and_serves_the_next(client, project):
    project.overlap = 1
    project.save()
    ItemFactory.create_batch(2, project=project)
    action, token = form_of(start(client, project))
    # The reservation ran out and someone else answered the item meanwhile.
    assignment = Assignment.objects.get()
    Assignment.objects.filter(pk=assignment.pk).update(status="expired")
    Item.objects.filter(pk=assignment.item_id).update(answer_count=1)
    response = client.post(action, {"choice": "a", "client_token": token}, HTTP_HX_REQUEST="true")
    assert b"given to someone else" in response.content
    assert Annotation.objects.count() == 0
    assert Assignment.objects.filter(status="reserved").count() == 1


def test_a_skip_moves_on_without_an_answer(client, project):
    ItemFactory.create_batch(2, project=project)
    page = start(client, project)
    skip = re.search(r'action="(/p/[^"]+/skip/\d+/)"', page.content.decode()).group(1)
    card = client.post(skip, HTTP_HX_REQUEST="true")
    assert b"<strong>2</strong> of 2" in card.content
    assert Annotation.objects.count() == 0


def test_failing_the_gold_check_on_the_last_item_earns_no_completion_code(client, project):
    project.gold_rate = 1.0
    project.gold_block_below = 0.5
    project.gold_block_after = 1
    project.save()
    ItemFactory(project=project, kind=Item.Kind.GOLD, gold_value={"choice": "a"})
    action, token = form_of(start(client, project))
    response = client.post(action, {"choice": "b", "client_token": token}, follow=True)
    assert b"no longer take part" in response.content
    assert project.completion_code not in response.content.decode()
    assert Participant.objects.get().status == "blocked"
