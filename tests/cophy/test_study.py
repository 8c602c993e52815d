"""The participant's side through HTTP: what the page and its media give away (C, never D or
the confounders), every answer checked on the server with a message naming what is wrong, the
watch-to-the-end rule, and one scene per participant across conditions."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import numpy as np
import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse

from apps.cophy import services
from apps.core.models import Annotation, Assignment, MediaPlay, Participant
from tests.cophy import scenes
from tests.crowd.test_flow import form_of, start

pytestmark = pytest.mark.django_db


def _project(cophy_project, examples, *conditions):
    project = cophy_project(*conditions)
    report = services.scenes_import(project=project, upload=scenes.zip_file(examples))
    assert report.ok, report.errors
    return project


def _assignment(project) -> Assignment:
    return Assignment.objects.select_related("item").get(
        participant__project=project, status=Assignment.Status.RESERVED
    )


def _watched(client, assignment) -> None:
    """Report A → B played to the end, as the page does, then move the start back by the
    run's length instead of waiting for it."""
    url = reverse("crowd:media_played", args=[assignment.item.project.slug, assignment.pk, "ab"])
    for event in ("started", "ended"):
        assert client.post(url, {"event": event}).status_code == 204
    MediaPlay.objects.filter(assignment=assignment).update(
        started_at=F("started_at") - timedelta(seconds=7)
    )


def _spec(html: str) -> dict:
    match = re.search(r'<script id="cophy-spec" type="application/json">(.*?)</script>', html)
    return json.loads(match.group(1))


def test_the_page_gives_the_browser_c_and_a_to_b_but_never_d_or_the_confounders(
    client, cophy_project
):
    tower = scenes.tower()
    project = _project(cophy_project, [tower])
    page = start(client, project)
    html = page.content.decode()
    assignment = _assignment(project)
    spec = _spec(html)
    assert spec["question"] == "tower" and spec["watched"] is False
    assert [o["label"] for o in spec["objects"]] == ["red block", "green block", "blue block"]
    assert "hidden" not in spec and "confounders" not in html and "gravity" not in html
    assert set(re.findall(r"/media/\d+/(\w+)/", json.dumps(spec))) == {"ab", "start"}
    # The answer opens only after A → B: the fieldset is disabled in the served page.
    assert re.search(r"<fieldset[^>]*data-answer[^>]* disabled", html)
    for label in ("Red block", "Green block", "Blue block", "Will the tower fall?"):
        assert label in html
    start_array = np.load(io.BytesIO(client.get(spec["start_url"]).getvalue()))
    assert np.array_equal(start_array[1, :, :3], tower.cd[0, :, :3])
    slug = project.slug
    cd = client.get(reverse("crowd:media", args=[slug, assignment.pk, "cd"]))
    assert cd.status_code == 404  # there is no such medium to fetch
    other = Client()
    start(other, project, {"PROLIFIC_PID": "someone-else", "STUDY_ID": "st", "SESSION_ID": "s"})
    assert other.get(spec["start_url"]).status_code == 404  # not their assignment


def test_a_tower_answer_before_a_to_b_was_watched_is_refused(client, cophy_project):
    project = _project(cophy_project, [scenes.tower()])
    page = start(client, project)
    action, token = form_of(page)
    data = {"move_red": "no", "move_green": "no", "move_blue": "yes", "falls": "yes"}
    response = client.post(action, {**data, "client_token": token}, HTTP_HX_REQUEST="true")
    assert response.status_code == 409
    assert "watch the whole run A → B to its end" in response.content.decode()
    assert not Annotation.objects.exists()


def test_a_tower_answer_names_each_block_left_out_and_stores_nothing(client, cophy_project):
    project = _project(cophy_project, [scenes.tower()])
    page = start(client, project)
    assignment = _assignment(project)
    _watched(client, assignment)
    action, token = form_of(page)
    response = client.post(
        action, {"move_red": "no", "client_token": token}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "Say whether the green block will move." in html
    assert "Say whether the blue block will move." in html
    assert "Say whether the tower will fall." in html
    assert "red block will move" not in html
    assert not Annotation.objects.exists()


def test_an_answer_for_a_block_the_scene_does_not_have_is_refused(cophy_project):
    from apps.cophy.tasktype import COPHY
    from apps.core.registry import InvalidValue

    project = _project(cophy_project, [scenes.tower("1", remove=True)])
    item = project.items.get()
    value = {"moves": {"red": False, "green": False, "blue": True}, "falls": False}
    with pytest.raises(InvalidValue) as refused:
        COPHY.validate(item, value)
    assert refused.value.fields["moves"] == [
        "There is no blue block in this scene; answer for the green, red blocks."
    ]


def test_a_tower_answer_is_stored_per_present_block_with_its_time(client, cophy_project):
    project = _project(cophy_project, [scenes.tower()])
    page = start(client, project)
    assignment = _assignment(project)
    _watched(client, assignment)
    action, token = form_of(page)
    data = {"move_red": "no", "move_green": "yes", "move_blue": "yes", "falls": "yes"}
    response = client.post(action, {**data, "client_token": token})
    assert response.status_code == 302
    stored = Annotation.objects.get(assignment=assignment)
    assert stored.value == {"moves": {"blue": True, "green": True, "red": False}, "falls": True}
    assert stored.duration_ms >= 0


def test_a_click_outside_the_ground_plane_is_refused_with_its_bounds(client, cophy_project):
    project = _project(cophy_project, [scenes.balls()], "counterfactual_only")
    page = start(client, project)
    html = page.content.decode()
    spec = _spec(html)
    assert spec["question"] == "click" and spec["ab_url"] is None  # nothing to watch first
    assert spec["plane"] == {"x": [-3.0, 3.0], "y": [-3.0, 3.0]}
    assert "What will the red ball touch first?" in html and "The green ball" in html
    action, token = form_of(page)
    response = client.post(
        action, {"x": "4.5", "y": "0", "first_contact": "green", "client_token": token}
    )
    assert "Click inside the ground plane (x and y from -3 to 3); (4.50, 0.00) is outside it." in (
        response.content.decode()
    )
    response = client.post(
        action, {"x": "nan", "y": "0", "first_contact": "green", "client_token": token}
    )
    assert "Click on the ground where the marked object will be at the end." in (
        response.content.decode()
    )
    response = client.post(
        action, {"x": "1.5", "y": "0.9", "first_contact": "blue", "client_token": token}
    )
    assert "&#x27;blue&#x27; is not one of the choices." in response.content.decode()
    assert not Annotation.objects.exists()
    response = client.post(
        action, {"x": "1.5", "y": "0.9", "first_contact": "green", "client_token": token}
    )
    assert response.status_code == 302
    assert Annotation.objects.get().value == {"x": 1.5, "y": 0.9, "first_contact": "green"}


def test_without_the_first_contact_question_a_click_alone_is_the_answer(client, cophy_project):
    project = cophy_project("counterfactual_only", ask_first_contact=False)
    assert services.scenes_import(project=project, upload=scenes.zip_file([scenes.collision()])).ok
    page = start(client, project)
    assert "touch first" not in page.content.decode()
    action, token = form_of(page)
    assert client.post(action, {"x": "0.4", "y": "-0.5", "client_token": token}).status_code == 302
    assert Annotation.objects.get().value == {"x": 0.4, "y": -0.5, "first_contact": None}


def test_nobody_sees_one_scene_in_two_conditions(client, cophy_project):
    import random

    from apps.cophy.tasktype import COPHY
    from apps.core import engine

    examples = [scenes.tower(), scenes.balls()]
    project = _project(cophy_project, examples, "observed", "counterfactual_only")
    assert project.items.count() == 4
    start(client, project)
    participant = Participant.objects.get(project=project)
    seen = []
    rng = random.Random(3)
    while (assignment := engine.next_item(participant=participant).assignment) is not None:
        seen.append(assignment.item.group)
        value = COPHY.simulate_answer(assignment.item, rng)
        engine.annotation_submit(assignment=assignment, value=value, client_token=f"t{len(seen)}")
    assert sorted(seen) == ["scene:ballsCF/2/1", "scene:blocktowerCF/3/1"]


def test_a_gold_tower_needs_every_block_and_the_tower_right(cophy_project):
    from apps.cophy.tasktype import COPHY

    project = cophy_project()
    report = services.scenes_import(
        project=project, upload=scenes.zip_file([scenes.tower()], gold=["blocktowerCF/3/1"])
    )
    assert report.ok
    item = project.items.get()
    right = {"moves": {"red": False, "green": False, "blue": True}, "falls": True}
    assert COPHY.gold_correct(item, COPHY.validate(item, right))
    wrong = {**right, "moves": {**right["moves"], "red": True}}
    assert not COPHY.gold_correct(item, COPHY.validate(item, wrong))
