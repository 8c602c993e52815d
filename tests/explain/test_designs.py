"""Each inspection design through the participant's HTTP flow: pairwise sides randomised per
participant and stored side-corrected, plausibility 1–5, and a drawn box checked against the
image on the server."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.core.models import Annotation, Assignment, Participant, Project
from apps.core.uploads import items_import_upload
from apps.explain.tasktype import _flipped
from tests.crowd.test_flow import form_of, start
from tests.explain.layouts import layout_zip

pytestmark = pytest.mark.django_db


def _live(explain_project, design: str) -> Project:
    project = explain_project(design)
    content, _, _ = layout_zip(3)
    report = items_import_upload(
        project=project, upload=SimpleUploadedFile("run.zip", content), name="run.zip"
    )
    assert report.ok, report.errors
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])
    return project


def _reserved(project: Project) -> Assignment:
    """The item just served to the newest participant."""
    newest = Participant.objects.filter(project=project).latest("id")
    return Assignment.objects.select_related("item", "participant").get(
        participant=newest, status=Assignment.Status.RESERVED
    )


def test_pairwise_sides_are_randomised_per_participant_and_stored_side_corrected(
    explain_project,
):
    project = _live(explain_project, "pairwise")
    orders = set()
    for _ in range(6):
        client = Client()
        page = start(client, project)
        assignment = _reserved(project)
        html = page.content.decode()
        order = re.search(r'name="order" value="(ab|ba)"', html).group(1)
        assert order == ("ba" if _flipped(assignment.item, assignment.participant) else "ab")
        orders.add(order)
        a, b = assignment.item.payload["normalisations"]
        shown = re.findall(r'src="[^"]*/(minmax|max|pas|ivr)/"', html)
        assert shown == ([a, b] if order == "ab" else [b, a])
        assert "Which map better covers the" in html
        action, token = form_of(page)
        client.post(action, {"choice": "first", "order": order, "client_token": token})
        stored = Annotation.objects.get(assignment=assignment).value
        # "first" is the left map: a when a was shown first, else b.
        assert stored["preferred"] == ("a" if order == "ab" else "b")
    assert orders == {"ab", "ba"}


def test_plausibility_stores_the_rating_and_refuses_one_off_the_scale(explain_project):
    project = _live(explain_project, "plausibility")
    client = Client()
    page = start(client, project)
    assignment = _reserved(project)
    action, token = form_of(page)
    refused = client.post(action, {"score": "6", "client_token": token}, HTTP_HX_REQUEST="true")
    assert 'role="alert"' in refused.content.decode()
    assert not Annotation.objects.exists()
    action, token = form_of(refused)
    client.post(action, {"score": "4", "client_token": token})
    assert Annotation.objects.get(assignment=assignment).value == {"score": 4}


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ({"x0": "3", "y0": "4", "x1": "48", "y1": "20"}, "inside the image (48 × 48 pixels)"),
        ({"x0": "30", "y0": "4", "x1": "10", "y1": "20"}, "right and bottom edges come after"),
        ({"x0": "", "y0": "", "x1": "", "y1": ""}, "Draw a box on the image."),
    ],
)
def test_a_box_outside_the_image_or_inside_out_is_refused_and_stores_nothing(
    explain_project, box, message
):
    project = _live(explain_project, "box")
    client = Client()
    page = start(client, project)
    assert "data-box-canvas" in page.content.decode()
    action, token = form_of(page)
    response = client.post(action, {**box, "client_token": token}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'role="alert"' in html and message in html
    assert not Annotation.objects.exists()


def test_a_drawn_box_inside_the_image_is_stored_in_image_pixels(explain_project):
    project = _live(explain_project, "box")
    client = Client()
    page = start(client, project)
    assignment = _reserved(project)
    action, token = form_of(page)
    box = {"x0": "0", "y0": "5", "x1": "47", "y1": "30"}
    client.post(action, {**box, "client_token": token})
    stored = Annotation.objects.get(assignment=assignment).value
    assert stored == {"x0": 0, "y0": 5, "x1": 47, "y1": 30}
