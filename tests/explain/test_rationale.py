"""The text design: posts with word attributions, highlighted through the HTTP flow, and the
ERASER table recomputed here from the stored rationales (token F1, AUPRC, agreement)."""

from __future__ import annotations

import json
import re
from itertools import combinations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from sklearn.metrics import average_precision_score

from apps.core.demo import demo_answers_simulate
from apps.core.models import Annotation, Assignment, Item, Participant, Project
from apps.explain.tasktype import EXPLAIN
from tests.crowd.test_flow import form_of, start

pytestmark = pytest.mark.django_db

POSTS = [
    {"id": "p1", "text": "my cat stole the seat haha", "scores": [0, 0.1, 0.3, 0, 0.2, 0.9]},
    {"id": "p2", "text": "lol the fridge has a plant", "scores": [0.8, 0, 0.4, 0, 0, 0.1]},
    {"id": "p3", "text": "the council approved the budget", "scores": [0, 0.2, 0.1, 0, 0.3]},
]


def _jsonl(rows) -> SimpleUploadedFile:
    return SimpleUploadedFile("posts.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())


def _live(client, owner, explain_project) -> Project:
    project = explain_project("rationale")
    client.force_login(owner)
    response = client.post(reverse("dashboard:data", args=[project.slug]), {"file": _jsonl(POSTS)})
    assert response.status_code == 200
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])
    return project


def test_posts_with_the_wrong_number_of_scores_are_refused_by_line(client, owner, explain_project):
    project = explain_project("rationale")
    client.force_login(owner)
    bad = [POSTS[0], {**POSTS[1], "scores": [1, 2]}]
    response = client.post(reverse("dashboard:data", args=[project.slug]), {"file": _jsonl(bad)})
    assert response.status_code == 400
    assert "2 scores for the 6 words" in response.content.decode()
    assert not Item.objects.filter(project=project).exists()


def test_a_rationale_is_highlighted_and_rated_through_http(client, owner, explain_project):
    project = _live(client, owner, explain_project)
    assert Item.objects.filter(project=project).count() == 3
    participant_client = Client()
    page = start(participant_client, project)
    html = page.content.decode()
    assert html.count('name="word"') >= 5 and "data-weight" in html
    assignment = Assignment.objects.select_related("item").get(
        participant=Participant.objects.get(project=project), status=Assignment.Status.RESERVED
    )
    n_words = len(assignment.item.payload["words"])
    action, token = form_of(page)
    for words, message in (
        ("", "Highlight at least one word."),
        (str(n_words), "not in this post"),
    ):
        refused = participant_client.post(
            action, {"words": words, "score": "3", "client_token": token}, HTTP_HX_REQUEST="true"
        )
        assert message in refused.content.decode()
        action, token = form_of(refused)
    assert not Annotation.objects.exists()
    participant_client.post(action, {"words": "3,1,1", "score": "4", "client_token": token})
    assert Annotation.objects.get(assignment=assignment).value == {"words": [1, 3], "score": 4}


def test_the_eraser_table_is_recomputed_from_the_stored_rationales(client, owner, explain_project):
    project = _live(client, owner, explain_project)
    project.overlap = 3
    project.save(update_fields=["overlap"])
    demo_answers_simulate(project=project, participants=3)
    answers = list(Annotation.objects.filter(project=project).select_related("item"))
    assert len(answers) == 9
    humans = [set(a.value["words"]) for a in answers]
    scores = [a.item.payload["attribution"]["scores"] for a in answers]
    k = max(1, round(np.mean([len(h) for h in humans])))
    f1s = []
    for human, score in zip(humans, scores, strict=True):
        top = set(np.argsort(-np.asarray(score), kind="stable")[:k].tolist())
        hit = len(human & top)
        f1s.append(0.0 if hit == 0 else 2 * hit / (len(human) + len(top)))
    aps = [
        average_precision_score([int(i in h) for i in range(len(s))], s)
        for h, s in zip(humans, scores, strict=True)
        if 0 < len(h) < len(s)
    ]
    pair_f1 = []
    for item in {a.item_id for a in answers}:
        sets = [set(a.value["words"]) for a in answers if a.item_id == item]
        pair_f1.append(
            np.mean([2 * len(x & y) / (len(x) + len(y)) for x, y in combinations(sets, 2)])
        )
    page = client.get(reverse("dashboard:results", args=[project.slug]))
    assert (
        page.status_code == 200
        and "Rationales against the shown attributions" in page.content.decode()
    )
    rows = {row[0]: row[1] for row in EXPLAIN.results(project).tables[-1].rows}
    assert rows["Token F1 (top-k words vs the rationale)"] == f"{np.mean(f1s):.3f}"
    assert rows["AUPRC (word scores vs the rationale)"] == f"{np.mean(aps):.3f}"
    assert rows["Mean rating of the attribution (1–5)"] == (
        f"{np.mean([a.value['score'] for a in answers]):.2f}"
    )
    assert rows["Human–human: mean pairwise F1"] == f"{np.mean(pair_f1):.3f}"


def test_the_text_demo_attributes_the_joke_to_its_cue_word(explain_project):
    project = explain_project("rationale", status="live")
    EXPLAIN.seed_demo(project)
    item = Item.objects.get(project=project, external_id="post-1")
    words = [w["text"] for w in item.payload["words"]]
    scores = item.payload["attribution"]["scores"]
    assert words[int(np.argmax(scores))] == "haha"
    assert re.match(r"integrated_gradients", item.payload["attribution"]["method"])
    assert (
        demo_answers_simulate(project=project, participants=2)
        == 2 * Item.objects.filter(project=project).count()
    )
