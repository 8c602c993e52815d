"""An inspector in a real browser draws the box a heatmap points at: a mouse drag spans it,
the arrow keys move it and Shift + arrow resizes it, and the server stores it in image pixels."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.core.models import Annotation, Assignment, Participant, Project
from apps.core.uploads import items_import_upload
from tests.e2e.browser import browser_page
from tests.explain.layouts import explain_project, layout_zip  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_inspector_draws_moves_and_resizes_a_box(live_server, explain_project):  # noqa: F811
    project = explain_project("box", slug="e2e-explain")
    content, _, _ = layout_zip(2)  # 48 × 48 images
    report = items_import_upload(
        project=project, upload=SimpleUploadedFile("run.zip", content), name="run.zip"
    )
    assert report.ok, report.errors
    project.status = Project.Status.LIVE
    project.save(update_fields=["status"])

    with browser_page() as page:
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=eye-1&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        canvas = page.locator("[data-box-canvas]")
        canvas.wait_for()
        page.wait_for_function("() => document.querySelector('[data-box-canvas] img').complete")
        rect = canvas.bounding_box()
        scale = rect["width"] / 48  # CSS pixels per image pixel

        def at(x: int, y: int) -> tuple[float, float]:
            return rect["x"] + (x + 0.5) * scale, rect["y"] + (y + 0.5) * scale

        page.mouse.move(*at(5, 6))
        page.mouse.down()
        page.mouse.move(*at(18, 12), steps=4)
        page.mouse.move(*at(30, 20), steps=4)
        page.mouse.up()
        assert page.input_value("input[name=x0]") == "5"
        assert page.input_value("input[name=y1]") == "20"
        assert "(5, 6) to (30, 20)" in page.locator("[data-box-readout]").inner_text()
        assert page.locator("[data-box]").is_visible()

        canvas.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowDown")
        assert "(7, 6) to (32, 21)" in page.locator("[data-box-readout]").inner_text()

        participant = Participant.objects.get(project=project)
        assignment = Assignment.objects.get(
            participant=participant, status=Assignment.Status.RESERVED
        )
        page.get_by_role("button", name="Submit box").click()
        page.wait_for_function(
            "id => !document.querySelector(`#item-card[data-assignment='${id}']`)",
            arg=str(assignment.pk),
        )
        # The next image is served before the browser closes: no request is left in flight.
        page.locator("[data-box-canvas]").wait_for()
        page.wait_for_load_state("networkidle")

    stored = Annotation.objects.get(assignment=assignment)
    assert stored.value == {"x0": 7, "y0": 6, "x1": 32, "y1": 21}
