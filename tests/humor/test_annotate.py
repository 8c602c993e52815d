"""Annotating humor posts over HTTP in the crowd flow: what the annotator sees and what is stored."""

from __future__ import annotations

import re

import pytest

from apps.core import registry
from apps.core.models import Annotation, Assignment, Item

from .conftest import configure, jsonl, post

pytestmark = pytest.mark.django_db


def start(client, project, pid="pp-1"):
    client.get(f"/p/{project.slug}/", {"PROLIFIC_PID": pid})
    client.post(f"/p/{project.slug}/consent/", {"agree": "yes"})
    client.post(f"/p/{project.slug}/instructions/")
    return client.get(f"/p/{project.slug}/annotate/")


def form_of(html: str) -> tuple[str, str]:
    action = re.search(r'action="(/p/[^"]+/submit/\d+/)"', html).group(1)
    token = re.search(r'name="client_token" value="([0-9a-f]+)"', html).group(1)
    return action, token


@pytest.fixture
def one_post(humor_project):
    registry.get("humor").import_items(
        humor_project,
        jsonl(
            [
                post(
                    "p1",
                    "<script>alert(1)</script> Me & my cat at www.example.org/cat — 10/10",
                    haha=3,
                )
            ]
        ),
    )
    return humor_project


def test_the_post_is_escaped_and_its_link_is_shown_but_not_clickable(client, one_post):
    html = start(client, one_post).content.decode()
    assert "Is this post meant to be funny?" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Me &amp; my cat at" in html
    assert "<script>alert(1)" not in html
    assert '<span class="link" title="Link (not clickable)">www.example.org/cat</span>' in html
    assert 'href="www.example.org' not in html and 'href="http://www.example.org' not in html


def test_yes_and_no_have_keys_1_and_2_and_the_skip_says_not_english(client, one_post):
    html = start(client, one_post).content.decode()
    assert re.search(r'name="funny" value="yes"\s+data-key="1"', html)
    assert re.search(r'name="funny" value="no"\s+data-key="2"', html)
    assert "Not English / can&#x27;t tell" in html and 'data-key="s"' in html


def test_an_answer_is_stored_as_funny_yes_or_no(client, one_post):
    action, token = form_of(start(client, one_post).content.decode())
    response = client.post(action, {"client_token": token, "funny": "yes"})
    assert response.status_code == 302
    annotation = Annotation.objects.get()
    assert annotation.value == {"funny": "yes"}
    assert registry.get("humor").label_of(annotation.value) == "yes"


def test_a_missing_or_odd_answer_is_refused_with_a_message_and_nothing_stored(client, one_post):
    action, token = form_of(start(client, one_post).content.decode())
    response = client.post(action, {"client_token": token, "funny": "maybe"})
    assert "Choose Yes or No" in response.content.decode()
    assert Annotation.objects.count() == 0


def test_a_post_can_be_skipped_as_not_english(client, one_post):
    html = start(client, one_post).content.decode()
    skip = re.search(r'action="(/p/[^"]+/skip/\d+/)"', html).group(1)
    client.post(skip)
    assert Assignment.objects.get().status == Assignment.Status.SKIPPED
    assert Annotation.objects.count() == 0


def test_the_study_sample_is_served_before_the_other_posts(client, humor_project):
    configure(humor_project, study={"size": 2, "strata": 2})
    posts = [post(f"p{i}", f"post {i}", like=100 - 10 * i, haha=10 * i) for i in range(6)]
    registry.get("humor").import_items(humor_project, jsonl(posts))
    sampled = set(humor_project.items.filter(priority__gt=0).values_list("pk", flat=True))
    assert len(sampled) == 2
    html = start(client, humor_project).content.decode()
    assert int(re.search(r'data-assignment="(\d+)"', html).group(1)) in set(
        Assignment.objects.filter(item_id__in=sampled).values_list("pk", flat=True)
    )


def test_a_gold_post_scores_the_participant(client, humor_project):
    humor_project.gold_rate = 1.0
    humor_project.save(update_fields=["gold_rate"])
    registry.get("humor").import_items(
        humor_project,
        jsonl(
            [
                {
                    "id": "g",
                    "kind": "gold",
                    "gold": {"funny": "no"},
                    "text": "Cases rose today.",
                    "reactions": {"like": 10},
                },
                post("p", "a post", haha=1),
            ]
        ),
    )
    action, token = form_of(start(client, humor_project).content.decode())
    client.post(action, {"client_token": token, "funny": "no"})
    annotation = Annotation.objects.get()
    assert annotation.item.kind == Item.Kind.GOLD
    assert registry.get("humor").gold_correct(annotation.item, annotation.value)
