"""A participant in headless Chromium (WebGL on SwiftShader, --disable-gpu): plays A → B to
its end, sees C, answers per block; clicks on the ground plane and moves the marker with the
keyboard; and a browser without WebGL is told so instead of shown a blank study."""

from __future__ import annotations

import io

import numpy as np
import pytest

from apps.cophy import services
from apps.core.models import Annotation, Assignment, Participant
from tests.cophy import scenes
from tests.cophy.scenes import cophy_project  # noqa: F401
from tests.e2e.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STATE = "s => document.querySelector('[data-cophy]').dataset.state === s"


def _enter(page, live_server, project, pid: str) -> None:
    page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    page.get_by_role("button", name="I agree, continue").click()
    page.get_by_role("button", name="Start").click()
    page.locator("[data-cophy]").wait_for()


def _colourful(png: bytes) -> float:
    """The share of clearly coloured pixels (the objects) in a screenshot of a canvas."""
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    spread = pixels.max(-1) - pixels.min(-1)
    return float((spread > 80).mean())


def test_a_participant_plays_a_to_b_and_answers_each_block(live_server, cophy_project):  # noqa: F811
    project = cophy_project("observed", slug="e2e-cophy-tower")
    assert services.scenes_import(project=project, upload=scenes.zip_file([scenes.tower()])).ok
    with browser_page() as page:
        _enter(page, live_server, project, "tower-1")
        page.wait_for_function(STATE, arg="ready")
        assert page.locator("[data-answer] input[type=radio]").first.is_disabled()
        assert _colourful(page.locator("canvas[data-view=ab]").screenshot()) > 0.01
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(STATE, arg="playing")
        page.wait_for_function(STATE, arg="ended", timeout=20000)  # 5.8 s at 5 fps
        assert page.locator("[data-answer] input[type=radio]").first.is_enabled()
        assert "locked" not in page.locator("[data-after-watch]").get_attribute("class")
        assert page.get_by_text("The blue block was moved 0.60 along +x.").is_visible()
        assert _colourful(page.locator("canvas[data-view=c]").screenshot()) > 0.01
        assert page.get_by_role("button", name="Replay").is_visible()
        for color, answer in (("red", "Stays"), ("green", "Stays"), ("blue", "Moves")):
            row = page.locator("tr", has_text=f"{color.capitalize()} block")
            row.get_by_label(answer).check()
        page.get_by_label("Yes, it falls").check()
        assignment = Assignment.objects.get(
            participant=Participant.objects.get(project=project),
            status=Assignment.Status.RESERVED,
        )
        page.get_by_role("button", name="Submit answer").click()
        page.wait_for_function(
            "id => !document.querySelector(`#item-card[data-assignment='${id}']`)",
            arg=str(assignment.pk),
        )
        page.wait_for_load_state("networkidle")
    stored = Annotation.objects.get(assignment=assignment)
    assert stored.value == {"moves": {"red": False, "green": False, "blue": True}, "falls": True}


def test_a_participant_clicks_the_final_position_and_nudges_it_with_the_keys(
    live_server,
    cophy_project,  # noqa: F811
):
    project = cophy_project("counterfactual_only", slug="e2e-cophy-click")
    examples = [scenes.collision("1"), scenes.collision("2")]
    assert services.scenes_import(project=project, upload=scenes.zip_file(examples)).ok
    with browser_page() as page:
        _enter(page, live_server, project, "click-1")
        stored = []
        for _ in examples:  # the second scene arrives by an htmx swap: the module picks it up
            page.wait_for_function(STATE, arg="ready")
            canvas = page.locator("canvas[data-view=c]")
            box = canvas.bounding_box()
            at = canvas.evaluate("c => c.cophyScreenOf(0.5, -1.0)")
            page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
            x, y = (
                float(page.input_value("input[name=x]")),
                float(page.input_value("input[name=y]")),
            )
            assert abs(x - 0.5) < 0.05 and abs(y + 1.0) < 0.05, (x, y)
            canvas.focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("Shift+ArrowUp")
            assert float(page.input_value("input[name=x]")) == pytest.approx(x + 0.1, abs=1e-3)
            assert float(page.input_value("input[name=y]")) == pytest.approx(y + 0.5, abs=1e-3)
            assert "ends at x = " in page.locator("[data-click-readout]").inner_text()
            page.get_by_label("Nothing").check()
            assignment = Assignment.objects.get(
                participant__project=project, status=Assignment.Status.RESERVED
            )
            stored.append((assignment, x + 0.1, y + 0.5))
            page.get_by_role("button", name="Submit answer").click()
            page.wait_for_function(
                "id => !document.querySelector(`#item-card[data-assignment='${id}']`)",
                arg=str(assignment.pk),
            )
        page.wait_for_load_state("networkidle")
    for assignment, x, y in stored:
        value = Annotation.objects.get(assignment=assignment).value
        assert value["x"] == pytest.approx(x, abs=2e-3) and value["y"] == pytest.approx(y, abs=2e-3)
        assert value["first_contact"] == "nothing"


def test_a_browser_without_webgl_is_told_so(live_server, cophy_project):  # noqa: F811
    project = cophy_project("observed", slug="e2e-cophy-nogl")
    assert services.scenes_import(project=project, upload=scenes.zip_file([scenes.tower()])).ok
    with browser_page() as page:
        page.add_init_script(
            "const get = HTMLCanvasElement.prototype.getContext;"
            "HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {"
            "  return /webgl/.test(kind) ? null : get.call(this, kind, ...rest); };"
        )
        _enter(page, live_server, project, "nogl-1")
        page.wait_for_function(STATE, arg="unavailable")
        alert = page.locator("[data-unavailable]")
        assert alert.is_visible()
        assert "cannot show the 3-D scenes" in alert.inner_text()
        assert not page.locator("canvas[data-view=ab]").is_visible()
        assert page.locator("[data-answer] input[type=radio]").first.is_disabled()
    assert not Annotation.objects.exists()
