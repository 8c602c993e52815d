"""A reader in a real browser highlights the words that make a post funny: a drag across two
words, a word toggled from the keyboard, and a rating; the server stores the word indices."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import Annotation, Assignment, Participant, Project
from apps.core.uploads import items_import_upload
from tests.e2e.browser import browser_page
from tests.explain.layouts import explain_project  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
POST = {"id": "p1", "text": "my cat stole the seat haha", "scores": [0, 0.1, 0.3, 0, 0.2, 0.9]}


def test_a_reader_highlights_words_by_drag_and_keyboard(live_server, explain_project):  # noqa: F811
    project = explain_project("rationale", slug="e2e-rationale")
    upload = SimpleUploadedFile("posts.jsonl", (json.dumps(POST) + "\n").encode())
    assert items_import_upload(project=project, upload=upload, name="posts.jsonl").ok
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])

    with browser_page() as page:
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=rd-1&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        words = page.locator(".explain-word")
        words.first.wait_for()
        cat, stole = words.nth(1).bounding_box(), words.nth(2).bounding_box()
        page.mouse.move(cat["x"] + 5, cat["y"] + cat["height"] / 2)
        page.mouse.down()
        page.mouse.move(stole["x"] + 10, stole["y"] + stole["height"] / 2, steps=5)
        page.mouse.up()
        assert page.input_value("input[name=words]") == "1,2"
        page.locator("input[data-word][value='5']").focus()
        page.keyboard.press("Space")
        assert page.input_value("input[name=words]") == "1,2,5"
        assert page.locator(".explain-word.picked").count() == 3
        participant = Participant.objects.get(project=project)
        assignment = Assignment.objects.get(participant=participant)
        page.get_by_role("button", name="4 Mostly").click()
        page.wait_for_url(f"**/p/{project.slug}/done/")

    stored = Annotation.objects.get(assignment=assignment)
    assert stored.value == {"words": [1, 2, 5], "score": 4}
