"""What a crowdworker is told when the study pauses under them, and pages that are not cached."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.models import Annotation, Project
from tests.crowd.test_flow import enter, form_of, start
from tests.factories import ItemFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_submit_while_paused_is_saved_and_the_worker_is_told_so(client, project, htmx):
    ItemFactory.create_batch(2, project=project)
    action, token = form_of(start(client, project))
    project.set_status(Project.Status.PAUSED)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(action, {"choice": "b", "client_token": token}, **extra)
    assert Annotation.objects.get().value == {"choice": "b"}
    url = f"/p/{project.slug}/annotate/"
    assert (response["HX-Redirect"] if htmx else response.url) == url
    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Your answer was saved — the study is paused" in html
    assert "continue where you left off" in html and "has ended" not in html
    again = client.get(url).content.decode()  # said once; later visits just say paused
    assert "This study is paused" in again and "answer was saved" not in again
    project.set_status(Project.Status.LIVE)
    assert b"client_token" in client.get(url).content  # and the same link continues


def test_a_full_study_says_so_on_entry_for_a_plain_link_too(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    worker = Client()
    action, token = form_of(start(worker, project, {"PROLIFIC_PID": "first"}))
    worker.post(action, {"choice": "a", "client_token": token})
    html = enter(client, project, {}).content.decode()
    assert "This study is full" in html and "You can close this page." in html
    assert "Return submission" not in html
    assert "consent" not in client.get(f"/p/{project.slug}/", {}).get("Location", "")


def test_a_reserved_slot_still_counts_as_taken_on_entry(client, project):
    project.overlap = 1
    project.save()
    ItemFactory(project=project)
    start(Client(), project, {"PROLIFIC_PID": "holder"})  # holds the only slot
    assert "This study is full" in enter(client, project).content.decode()


def test_participant_pages_are_never_cached(client, project):
    ItemFactory(project=project)
    pages = [enter(client, project)]
    pages.append(client.get(f"/p/{project.slug}/consent/"))
    pages.append(client.post(f"/p/{project.slug}/consent/", {"agree": "yes"}))
    pages.append(client.get(f"/p/{project.slug}/instructions/"))
    pages.append(client.post(f"/p/{project.slug}/instructions/"))
    annotate = client.get(f"/p/{project.slug}/annotate/")
    pages.append(annotate)
    action, token = form_of(annotate)
    pages.append(client.post(action, {"choice": "a", "client_token": token}))
    pages.append(client.get(f"/p/{project.slug}/done/"))
    for response in pages:
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]
