"""The researcher's CoPhy pages, mounted at ``/projects/<slug>/cophy/``: the scenes with their
answers, one scene's replay (A → B, the true C → D, people's answers, the model's predicted
trajectory as ghosts), and the scenes as example folders in the official layout (zip).

Every view reaches the project through ``project_for_user``: a non-member gets a 404.
"""

from __future__ import annotations

import numpy as np
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static

from apps.core.access import project_for_user
from ml.cophy.layout import describe_intervention

from . import scoring, selectors, services
from .models import Scene
from .schemas import (
    CAMERAS,
    COLOR_HEX,
    CONDITION_LABELS,
    NOTHING,
    SCENARIO_TITLES,
    SHAPE_SIZES,
    WALLS,
    config_of,
)


def _poses(states: np.ndarray) -> list:
    poses = np.concatenate([states[:, :, 0:3], states[:, :, 3:7]], axis=-1)
    return np.round(poses.astype(np.float64), 4).tolist()


def _share(right: int, total: int) -> str:
    return f"{100 * right / total:.0f}%" if total else "—"


@login_required
def scene_list(request: HttpRequest, slug: str) -> HttpResponse:
    """Every scene: what changed, the true outcome, and how people answered it."""
    project = project_for_user(request, slug)
    rows = []
    per_scene: dict[str, list] = {}
    for answer in selectors.used_answers(project):
        per_scene.setdefault(answer.example_id, []).append(answer)
    for scene in selectors.scenes(project):
        example = scene.example()
        truth = scoring.truth_of(example)
        scores = [
            scoring.answer_score(example, truth, a.value)
            for a in per_scene.get(scene.example_id, [])
        ]
        if truth.question == "tower":
            moving = [example.slot_color(int(k)) for k in np.flatnonzero(truth.moves)]
            outcome = ("falls" if truth.falls else "stands") + (
                f"; moving: {', '.join(moving)}" if moving else "; nothing moves"
            )
            right = sum(sum(s.blocks) for s in scores)
            total = sum(len(s.blocks) for s in scores)
            people = f"{_share(right, total)} of block answers right" if total else "—"
        else:
            assert truth.target is not None
            x, y = truth.final_xy[truth.target]
            outcome = f"{example.slot_color(truth.target)} ends at ({x:.2f}, {y:.2f})"
            if truth.first_contact and truth.first_contact != NOTHING:
                outcome += f", touches {truth.first_contact} first"
            errors = [s.error for s in scores if s.error is not None]
            people = f"mean error {np.mean(errors):.2f}" if errors else "—"
        rows.append(
            {
                "scene": scene,
                "title": SCENARIO_TITLES[scene.scenario],
                "change": describe_intervention(example),
                "outcome": outcome,
                "answers": len(scores),
                "people": people,
            }
        )
    return render(
        request,
        "cophy/scene_list.html",
        {"project": project, "tab": "results", "rows": rows},
    )


@login_required
def scene_replay(request: HttpRequest, slug: str, scene_id: int) -> HttpResponse:
    project = project_for_user(request, slug)
    scene = selectors.scene_for(project, scene_id)
    if scene is None:
        raise Http404("No such scene.")
    example = scene.example()
    truth = scoring.truth_of(example)
    items = list(project.items.filter(group=f"scene:{scene.example_id}").order_by("id"))
    payload = (
        items[0].payload if items else services.payload_of(example, "observed", config_of(project))
    )
    answers = [a for a in selectors.answers(project, scene=scene)]
    version = selectors.model_version(project)
    model = selectors.model_trajectories(version).get(scene.example_id)
    tallies = []
    if truth.question == "tower":
        for k in reversed(np.flatnonzero(truth.present)):
            color = example.slot_color(int(k))
            said = [a.value.get("moves", {}).get(color) for a in answers if not a.blocked]
            tallies.append(
                {
                    "label": f"{color} block",
                    "moves": sum(1 for s in said if s is True),
                    "stays": sum(1 for s in said if s is False),
                    "truth": "moves" if truth.moves[k] else "stays",
                }
            )
        falls = [a.value.get("falls") for a in answers if not a.blocked]
        tallies.append(
            {
                "label": "the tower",
                "moves": sum(1 for s in falls if s is True),
                "stays": sum(1 for s in falls if s is False),
                "truth": "falls" if truth.falls else "stands",
                "tower": True,
            }
        )
    clicks = [
        {
            "x": a.value["x"],
            "y": a.value["y"],
            "condition": a.condition,
            "condition_label": CONDITION_LABELS.get(a.condition, a.condition),
            "error": round(scoring.answer_score(example, truth, a.value).error or 0.0, 3),
            "first_contact": a.value.get("first_contact"),
        }
        for a in answers
        if "x" in a.value and not a.blocked
    ]
    spec = {
        "scenario": scene.scenario,
        "question": truth.question,
        "objects": [{**o, "hex": COLOR_HEX.get(o["color"], "#888888")} for o in payload["objects"]],
        "sizes": SHAPE_SIZES,
        "walls": WALLS.get(scene.scenario),
        "camera": CAMERAS[scene.scenario],
        "plane": payload["plane"],
        "removed": payload.get("removed"),
        "intervention": payload["intervention"],
        "target": truth.target,
        "fps": 5,
        "ab": _poses(example.ab),
        "cd": _poses(example.cd),
        "model": None if model is None else np.round(model.positions, 4).tolist(),
        "clicks": clicks,
        "truth_xy": None
        if truth.target is None
        else [round(float(v), 4) for v in truth.final_xy[truth.target]],
    }
    confounders = [
        {
            "label": o["label"],
            "values": dict(
                zip(
                    ("mass", "friction", "restitution"),
                    np.round(example.confounders[o["slot"]].astype(np.float64), 1).tolist(),
                    strict=False,
                )
            ),
        }
        for o in payload["objects"]
    ]
    return render(
        request,
        "cophy/replay.html",
        {
            "project": project,
            "tab": "results",
            "scene": scene,
            "title": SCENARIO_TITLES[scene.scenario],
            "spec": spec,
            "three_url": static("cophy/vendor/three/three.module.min.js"),
            "description": payload["intervention"]["description"],
            "tallies": tallies,
            "clicks": clicks,
            "truth": truth,
            "confounders": confounders,
            "gravity": example.gravity,
            "model_label": f"Model v{version.number}" if version and model is not None else None,
            "answers": answers,
        },
    )


@login_required
def scenes_zip(request: HttpRequest, slug: str) -> HttpResponse:
    """Every scene of the project as example folders in the official layout (``gold.txt``
    names the gold scenes): the zip the importer reads."""
    project = project_for_user(request, slug)
    scenes = list(Scene.objects.filter(project=project).order_by("id"))
    content = services.scenes_zip_bytes(
        [s.example() for s in scenes], [s.example_id for s in scenes if s.gold]
    )
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{project.slug}-scenes.zip"'
    return response
