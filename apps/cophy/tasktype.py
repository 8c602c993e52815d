"""The CoPhy TaskType: people predict the outcome of a counterfactual physical scene (Baradel
et al., ICLR 2020) in the browser; the adapter the platform calls. The study design is ours
(``schemas.py``); writes are in ``services.py``, scoring in ``scoring.py``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

import pydantic
from django.templatetags.static import static
from django.urls import path, reverse

from apps.core.media import media_urls
from apps.core.models import Item
from apps.core.plays import plays_missing
from apps.core.registry import (
    AggregationMethod,
    ImportField,
    ImportFormat,
    ImportReport,
    InvalidValue,
    PydanticTaskType,
    RecordSet,
    Results,
)

from . import exports, services, views
from . import results as results_page
from .schemas import (
    ANSWERS,
    CAMERAS,
    COLOR_HEX,
    NOTHING,
    SHAPE_SIZES,
    WALLS,
    Config,
    config_of,
)

YES = ("yes", "true", "1", "on")
NO = ("no", "false", "0", "off")


def _yes_no(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    return True if text in YES else False if text in NO else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _blocks(item: Item) -> list[dict]:
    """The blocks the tower question asks about: those present in C, top first."""
    return [o for o in reversed(item.payload["objects"]) if o["in_c"]]


class CophyTaskType(PydanticTaskType):
    key = "cophy"
    title = "Counterfactual physics (CoPhy)"
    description = (
        "Watch a simulated scene (block tower, balls, collision), see one change to its start, "
        "and predict what happens: which blocks move and whether the tower falls, or where a "
        "ball ends up. People, the copy baselines and a CoPhyNet-style model on the same scenes."
    )
    Config = Config
    Answer = ANSWERS["tower"]  # block towers'; balls and collisions answer with a click
    level_of_measurement = "nominal"
    citation = """@inproceedings{baradel2020cophy,
  title = {{CoPhy}: Counterfactual Learning of Physical Dynamics},
  author = {Baradel, Fabien and Neverova, Natalia and Mille, Julien and Mori, Greg and
            Wolf, Christian},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2020}
}"""
    aggregation_methods = [AggregationMethod("majority", "Most frequent answer")]
    imports_zip = True
    shuffle_items = True  # each participant meets the scenes in an order of their own

    # data in
    def import_formats(self) -> list[ImportFormat]:
        examples = services.sample_examples()
        listing = [f"{e.example_id}/" for e in examples]
        return [
            ImportFormat(
                key="scenes",
                title="CoPhy example folders in the official layout (zip)",
                extension="zip",
                description=(
                    "A zip of example folders as the CoPhy release lays them out "
                    "(blocktowerCF/<3|4>/<id>/, ballsCF/<2–6>/<id>/, collisionCF/<id>/), from "
                    "the official data or Chorus's generator; videos are not needed, the "
                    "browser draws the scenes from the states. Every array is checked (shape "
                    "(T, K, 13), finite, unit quaternions, objects present as the colour lines "
                    "say, confounder shape); a bad example is refused by its id and nothing is "
                    "imported. Each scene becomes one item per condition. The sample holds "
                    f"{len(examples)} scenes, the last one a gold scene."
                ),
                fields=(
                    ImportField("ab/states.npy", "(T, K, 13) states of the observed run.", True),
                    ImportField("cd/states.npy", "The counterfactual run, same shape.", True),
                    ImportField(
                        "ab/colors.txt", "One line per object (towers bottom → top).", True
                    ),
                    ImportField("cd/colors.txt", "The objects of the counterfactual run.", True),
                    ImportField("confounders.npy", "(K, 2) towers, (K, 3) balls/collision.", True),
                    ImportField("gravity.txt", "Towers: gravity_x=<f> gravity_y=<f>.", True),
                    ImportField("explanations.txt", "Balls and collision: the intervention.", True),
                    ImportField(
                        "gold.txt", "At the top: example ids to show as gold scenes, a line each."
                    ),
                ),
                example=listing[0],
                sample="example folders\n" + "".join(f"{line}\n" for line in listing),
                sample_zip=services.sample_zip_bytes,
                sample_items=len(examples),  # one condition (observed) by default
            )
        ]

    def import_items(self, project, upload) -> ImportReport:
        return services.scenes_import(project=project, upload=upload)

    def seed_demo(self, project) -> None:
        services.demo_seed(project=project)

    def simulate_answer(self, item: Item, rng: random.Random) -> dict[str, Any]:
        return services.answer_simulate(item=item, rng=rng)

    # the participant
    def form_template_for(self, item: Item) -> str:
        return f"cophy/{item.payload['question']}.html"

    def must_play(self, item: Item) -> list[str]:
        return ["ab"] if item.payload.get("condition") == "observed" else []

    def unplayed_message(self, item: Item, missing: list[str]) -> str:
        return "Please watch the whole run A \u2192 B to its end before you answer."

    def item_context(self, item: Item, participant) -> dict:
        payload = item.payload
        urls = media_urls(item=item, participant=participant)
        assignment = item.assignments.filter(participant=participant).first()
        slug = item.project.slug
        observed = payload["condition"] == "observed"
        watched = not observed
        if observed and assignment is not None:
            watched = not plays_missing(assignment=assignment, keys=["ab"])
        # What the browser needs to draw the scene; never D, never the confounders.
        spec = {
            "scenario": payload["scenario"],
            "question": payload["question"],
            "objects": [
                {**o, "hex": COLOR_HEX.get(o["color"], "#888888")} for o in payload["objects"]
            ],
            "sizes": SHAPE_SIZES,
            "walls": WALLS.get(payload["scenario"]),
            "camera": CAMERAS[payload["scenario"]],
            "plane": payload["plane"],
            "removed": payload.get("removed"),
            "intervention": {
                k: payload["intervention"].get(k) for k in ("object", "kind", "description")
            },
            "target": payload.get("target"),
            "fps": 5,
            "ab_url": urls.get("ab"),
            "start_url": urls.get("start"),
            "played_url": reverse("crowd:media_played", args=[slug, assignment.pk, "ab"])
            if observed and assignment is not None
            else None,
            "watched": watched,
        }
        context: dict[str, Any] = {
            "cophy": spec,
            "observed": observed,
            "watched": watched,
            "three_url": static("cophy/vendor/three/three.module.min.js"),
            "description": payload["intervention"]["description"],
        }
        if payload["question"] == "tower":
            context["blocks"] = [
                {**b, "hex": COLOR_HEX.get(b["color"], "#888888")} for b in _blocks(item)
            ]
        else:
            objects = {o["slot"]: o for o in payload["objects"]}
            target = objects[payload["target"]]
            context["target"] = {**target, "hex": COLOR_HEX.get(target["color"], "#888888")}
            context["contact_choices"] = [
                {
                    "key": key,
                    "label": "nothing"
                    if key == NOTHING
                    else next(o["label"] for o in objects.values() if o["color"] == key),
                }
                for key in payload.get("contact_choices") or []
            ]
        return context

    def value_from_form(self, item: Item, data: Mapping[str, Any]) -> Any:
        if item.payload["question"] == "tower":
            return {
                "moves": {
                    b["color"]: data.get(f"move_{b['color']}")
                    for b in _blocks(item)
                    if data.get(f"move_{b['color']}") not in (None, "")
                },
                "falls": data.get("falls"),
            }
        value: dict[str, Any] = {"x": data.get("x"), "y": data.get("y")}
        if item.payload.get("contact_choices"):
            value["first_contact"] = data.get("first_contact")
        return value

    def form_data_for(self, item: Item, value: Mapping[str, Any]) -> dict[str, str]:
        if item.payload["question"] == "tower":
            data = {
                f"move_{color}": "yes" if moves else "no" for color, moves in value["moves"].items()
            }
            return {**data, "falls": "yes" if value["falls"] else "no"}
        data = {"x": str(value["x"]), "y": str(value["y"])}
        if value.get("first_contact") is not None:
            data["first_contact"] = str(value["first_contact"])
        return data

    def validate(self, item: Item, value: Any) -> dict:
        value = dict(value) if isinstance(value, Mapping) else {}
        if item.payload["question"] == "tower":
            return self._tower(item, value)
        return self._click(item, value)

    def _tower(self, item: Item, value: dict) -> dict:
        blocks = [b["color"] for b in _blocks(item)]
        given = value.get("moves")
        moves: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        errors: dict[str, list[str]] = {}
        unknown = sorted(set(moves) - set(blocks))
        if unknown:
            errors["moves"] = [
                f"There is no {' or '.join(unknown)} block in this scene; answer for the "
                f"{', '.join(blocks)} blocks."
            ]
        clean: dict[str, bool] = {}
        for color in blocks:
            answer = _yes_no(moves.get(color))
            if answer is None:
                errors.setdefault(f"moves.{color}", []).append(
                    f"Say whether the {color} block will move."
                )
            else:
                clean[color] = answer
        falls = _yes_no(value.get("falls"))
        if falls is None:
            errors["falls"] = ["Say whether the tower will fall."]
        if errors:
            raise InvalidValue(errors)
        return ANSWERS["tower"](moves=clean, falls=bool(falls)).model_dump(mode="json")

    def _click(self, item: Item, value: dict) -> dict:
        payload = item.payload
        (x0, x1), (y0, y1) = payload["plane"]["x"], payload["plane"]["y"]
        x, y = _number(value.get("x")), _number(value.get("y"))
        errors: dict[str, list[str]] = {}
        if x is None or y is None:
            errors["x"] = ["Click on the ground where the marked object will be at the end."]
        elif not (x0 <= x <= x1 and y0 <= y <= y1):
            errors["x"] = [
                f"Click inside the ground plane (x and y from {x0:g} to {x1:g}); "
                f"({x:.2f}, {y:.2f}) is outside it."
            ]
        choices = payload.get("contact_choices") or []
        contact = value.get("first_contact")
        if choices and contact not in choices:
            errors["first_contact"] = [
                "Choose what the marked object touches first."
                if contact in (None, "")
                else f"{contact!r} is not one of the choices."
            ]
        elif not choices and contact not in (None, ""):
            errors["first_contact"] = ["This scene does not ask what the object touches."]
        if errors:
            raise InvalidValue(errors)
        try:
            answer = ANSWERS["click"](x=x, y=y, first_contact=contact if choices else None)
        except pydantic.ValidationError as exc:  # pragma: no cover - checked above
            raise InvalidValue.from_pydantic(exc) from None
        return answer.model_dump(mode="json")

    def label_of(self, value: Any) -> Any:
        """Towers: falls / stands; clicks: what the object touches first (None unless asked)."""
        if not isinstance(value, dict):
            return None
        if "falls" in value:
            return "falls" if value["falls"] else "stands"
        return value.get("first_contact")

    def gold_correct(self, item: Item, value: Any) -> bool:
        """A gold tower needs every block and the tower right; a gold click within the
        settings' distance of the true final position (and the right contact, when asked)."""
        expected = item.gold_value or {}
        if not isinstance(value, dict) or not expected:
            return False
        if "falls" in expected:
            return (
                value.get("moves") == expected["moves"] and value.get("falls") == expected["falls"]
            )
        distance = math.hypot(value["x"] - expected["x"], value["y"] - expected["y"])
        contact_ok = value.get("first_contact") in (None, expected.get("first_contact"))
        return distance <= config_of(item.project).gold_distance and contact_ok

    # results and data out
    def results(self, project) -> Results:
        return results_page.cophy_results(project=project)

    def exports(self) -> list[RecordSet]:
        return exports.RECORD_SETS

    def urlpatterns(self) -> list:
        return [
            path("scenes/", views.scene_list, name="scene_list"),
            path("scenes/<int:scene_id>/", views.scene_replay, name="scene_replay"),
            path("scenes.zip", views.scenes_zip, name="scenes_zip"),
        ]


COPHY = CophyTaskType()
