"""Every number of the CoPhy results page, recomputed here from the database by hand: the
§3.4 labels with explicit loops over time and objects, the copy baselines from their
definitions, a model's predictions as stored, Wilson intervals from the formula."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from django.urls import reverse

from apps.cophy import results as results_page
from apps.cophy import services
from apps.cophy.models import Scene
from apps.cophy.tasktype import COPHY
from apps.core import engine
from apps.core.models import Annotation, Item, Participant
from apps.core.results import BarFigure
from apps.training.models import ModelVersion, Prediction
from tests.cophy import scenes

pytestmark = pytest.mark.django_db

EXAMPLES = [
    scenes.tower("1"),
    scenes.tower("2", top_falls=False),
    scenes.tower("3", remove=True),
    scenes.balls(),
    scenes.collision(),
]
GOLD = "blocktowerCF/3/9"
PEOPLE = {"observed": "People (saw A → B)", "counterfactual_only": "People (C only)"}


# --- the labels, by hand ---------------------------------------------------------------------


def _present(states) -> list[int]:
    return [k for k in range(states.shape[1]) if sum(abs(float(v)) for v in states[0, k, :3]) > 0]


def _moves(pose, present, delta: int) -> dict[int, bool]:
    """Σ_d |pos[t+Δ] − pos[t−Δ]| > 0.05 at some t, indices clipped."""
    T = len(pose)
    out = {}
    for k in present:
        out[k] = any(
            sum(
                abs(float(pose[min(t + delta, T - 1)][k][d] - pose[max(t - delta, 0)][k][d]))
                for d in range(3)
            )
            > 0.05
            for t in range(T)
        )
    return out


def _falls(pose, present) -> bool:
    return (
        sum(abs(float(pose[-1][k][d] - pose[0][k][d])) for k in present for d in range(3)) >= 0.05
    )


def _mse(pred, states, dim: int) -> float:
    T = states.shape[0]
    present = _present(states)
    total = 0.0
    for t in range(1, T):
        for k in present:
            total += (
                sum((float(pred[t - 1][k][d]) - float(states[t, k, d])) ** 2 for d in range(dim))
                / dim
            )
    return total / (len(present) * (T - 1))


def _copy_c(example):
    return [[list(example.cd[0, k, :3]) for k in range(example.K)] for _ in range(example.T - 1)]


def _copy_b(example):
    return [[list(example.ab[t, k, :3]) for k in range(example.K)] for t in range(1, example.T)]


def _with_start(example, pred):
    return [[list(example.cd[0, k, :3]) for k in range(example.K)], *pred]


DELTA = {"blocktower": 2, "balls": 2, "collision": 5}
DIM = {"blocktower": 3, "balls": 2, "collision": 3}
CONTACT = {"ballsCF/2/1": "green", "collisionCF/1": "nothing"}  # by construction (scenes.py)
# Copy C holds everything still: no contact. Copy B replays B: red never reaches green (it
# stays 1.4 away); the yellow sphere ends 0.5 from the cylinder's centre, inside radii 0.6.
CONTACT_COPY = {
    "copy_c": {"ballsCF/2/1": "nothing", "collisionCF/1": "nothing"},
    "copy_b": {"ballsCF/2/1": "nothing", "collisionCF/1": "blue"},
}
TARGET = {"ballsCF/2/1": 0, "collisionCF/1": 0}  # the moved ball / sphere


def _model_positions(example):
    """A fake model's D: C's positions, everything drifting +0.2 in x over the run."""
    T = example.T
    present = _present(example.cd)
    return [
        [
            [
                float(example.cd[0, k, 0]) + (0.2 * t / (T - 1) if k in present else 0.0),
                float(example.cd[0, k, 1]),
                float(example.cd[0, k, 2]),
            ]
            for k in range(example.K)
        ]
        for t in range(1, T)
    ]


# --- the study ---------------------------------------------------------------------------------


def _answer(item: Item, who: int) -> dict:
    """Participant ``who``'s answer: even ones say everything moves and falls and click
    (0, 0); odd ones say nothing moves and click (1, 1), picking the first contact choice."""
    payload = item.payload
    if payload["question"] == "tower":
        blocks = [o["color"] for o in payload["objects"] if o["in_c"]]
        return {"moves": {c: who % 2 == 0 for c in blocks}, "falls": who % 2 == 0}
    x = 0.0 if who % 2 == 0 else 1.0
    contact = "nothing" if who % 2 == 0 else payload["contact_choices"][0]
    return {"x": x, "y": x, "first_contact": contact}


@pytest.fixture
def study(cophy_project):
    from apps.cophy import gold

    project = cophy_project("observed", "counterfactual_only")
    golden = gold.resting_tower("9")
    report = services.scenes_import(
        project=project, upload=scenes.zip_file([*EXAMPLES, golden], gold=[GOLD])
    )
    assert report.ok, report.errors
    project.gold_rate = 0.3
    project.save(update_fields=["gold_rate"])
    for who in range(6):
        participant = Participant.objects.create(
            project=project, source=Participant.Source.LINK, external_id=f"p{who}"
        )
        participant.consent()
        while (assignment := engine.next_item(participant=participant).assignment) is not None:
            engine.annotation_submit(
                assignment=assignment,
                value=_answer(assignment.item, who),
                client_token=uuid.uuid4().hex,
            )
    blocked = Participant.objects.get(project=project, external_id="p5")
    blocked.block(reason="test")
    return project


def _rows(project):
    """(example, condition, value, gold) of every answer of a participant not blocked."""
    scenes_by_id = {s.example_id: s.example() for s in Scene.objects.filter(project=project)}
    out = []
    for a in Annotation.objects.filter(project=project).select_related("item", "participant"):
        if a.participant.status == Participant.Status.BLOCKED:
            continue
        payload = a.item.payload
        out.append(
            (
                scenes_by_id[payload["example_id"]],
                payload["condition"],
                a.value,
                a.item.kind != "regular",
            )
        )
    return out


def _percent(right: int, total: int) -> str:
    return f"{100 * right / total:.1f}% (n={total})"


def _mean(values, digits=2) -> str:
    return f"{sum(values) / len(values):.{digits}f} (n={len(values)})"


def _cell(results, title: str, row: str, column: str):
    table = next(t for t in results.tables if t.title.startswith(title))
    line = next(r for r in table.rows if r[0] == row)
    return line[table.columns.index(column)]


def _wilson(right: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


# --- the tests ---------------------------------------------------------------------------------


def test_people_and_copy_baselines_on_towers_match_a_hand_computation(study):
    results = COPHY.results(study)
    rows = _rows(study)
    regular = [r for r in rows if not r[3]]
    answered = {e.example_id for e, *_ in regular}
    towers = [e for e in EXAMPLES if e.scenario == "blocktower" and e.example_id in answered]
    truth = {e.example_id: _moves(e.cd[:, :, :3], _present(e.cd), 2) for e in towers}
    falls = {e.example_id: _falls(e.cd[:, :, :3], _present(e.cd)) for e in towers}
    # by construction: only the first tower's blue block moves, and only that tower falls
    assert truth["blocktowerCF/3/1"] == {0: False, 1: False, 2: True}
    assert falls == {"blocktowerCF/3/1": True, "blocktowerCF/3/2": False, "blocktowerCF/3/3": False}

    for condition, column in PEOPLE.items():
        right = total = fright = ftotal = 0
        for example, cond, value, _ in regular:
            if cond != condition or example.scenario != "blocktower":
                continue
            for k, moves in truth[example.example_id].items():
                total += 1
                right += value["moves"][example.slot_color(k)] == moves
            ftotal += 1
            fright += value["falls"] == falls[example.example_id]
        assert total > 0
        assert _cell(results, "Will each block move?", "All block towers", column) == _percent(
            right, total
        )
        assert _cell(results, "Will the tower fall?", "All block towers", column) == _percent(
            fright, ftotal
        )
        metric = results.metric(f"{condition}_blocks")
        assert metric.value == pytest.approx(right / total)
        assert metric.interval == pytest.approx(_wilson(right, total))

    for name, copy in (("Copy C", _copy_c), ("Copy B", _copy_b)):
        right = total = fright = 0
        for example in towers:
            pose = _with_start(example, copy(example))
            said = _moves(pose, _present(example.cd), 2)
            for k, moves in truth[example.example_id].items():
                total += 1
                right += said[k] == moves
            fright += _falls(pose, _present(example.cd)) == falls[example.example_id]
        assert _cell(results, "Will each block move?", "All block towers", name) == _percent(
            right, total
        )
        assert _cell(results, "Will the tower fall?", "All block towers", name) == _percent(
            fright, len(towers)
        )
    assert (
        _cell(results, "Will each block move?", "Block tower, 3 blocks", "Model")
        == "not trained yet"
    )
    bars = results.figure("tower-blocks")
    assert isinstance(bars, BarFigure)
    table_value = _cell(results, "Will each block move?", "All block towers", "Copy C")
    assert f"{bars.series[0].values[0]:.1f}%" == table_value.split(" ")[0]


def test_clicks_contacts_and_mse_match_a_hand_computation(study):
    results = COPHY.results(study)
    rows = _rows(study)
    clicks = [r for r in rows if not r[3] and r[0].scenario != "blocktower"]
    for condition, column in PEOPLE.items():
        errors, contact_right, contact_total = [], 0, 0
        for example, cond, value, _ in clicks:
            if cond != condition:
                continue
            k = TARGET[example.example_id]
            fx, fy = float(example.cd[-1, k, 0]), float(example.cd[-1, k, 1])
            errors.append(math.hypot(value["x"] - fx, value["y"] - fy))
            contact_total += 1
            contact_right += value["first_contact"] == CONTACT[example.example_id]
        assert _cell(
            results, "Where does the marked object end up?", "All balls and collisions", column
        ) == _mean(errors)
        assert _cell(
            results, "What does the marked object touch first?", "All balls and collisions", column
        ) == _percent(contact_right, contact_total)
        assert results.metric(f"{condition}_error").value == pytest.approx(
            sum(errors) / len(errors)
        )

    moving = [e for e in EXAMPLES if e.scenario != "blocktower"]
    for key, name, copy in (("copy_c", "Copy C", _copy_c), ("copy_b", "Copy B", _copy_b)):
        errors = []
        for example in moving:
            k = TARGET[example.example_id]
            final = copy(example)[-1][k]
            errors.append(
                math.hypot(final[0] - example.cd[-1, k, 0], final[1] - example.cd[-1, k, 1])
            )
        assert _cell(
            results, "Where does the marked object end up?", "All balls and collisions", name
        ) == _mean(errors)
        right = sum(CONTACT_COPY[key][e.example_id] == CONTACT[e.example_id] for e in moving)
        assert _cell(
            results, "What does the marked object touch first?", "All balls and collisions", name
        ) == _percent(right, len(moving))
        for row in ("Block tower, 3 blocks", "Balls, 2 balls", "Collision"):
            same = [e for e in EXAMPLES if results_page.group_of(e.scenario, e.n_objects)[2] == row]
            values = [_mse(copy(e), e.cd, DIM[e.scenario]) for e in same]
            assert _cell(results, "Trajectory MSE", row, name) == _mean(values, 4)
    collision = EXAMPLES[4]
    table4 = next(t for t in results.tables if t.title.startswith("CoPhy Table 4"))
    assert table4.rows[0][1] == _mean([_mse(_copy_c(collision), collision.cd, 3)], 4)
    assert table4.rows[0][2] == _mean([_mse(_copy_b(collision), collision.cd, 3)], 4)
    assert table4.rows[0][3:] == ["not run", "not run", "not trained yet", "not run"]
    assert table4.rows[1][1:] == ["not available"] * 6
    assert _cell(results, "Trajectory MSE", "Collision", PEOPLE["observed"]) == "not applicable"


def test_gold_scenes_count_apart_and_blocked_participants_not_at_all(study):
    results = COPHY.results(study)
    gold_rows = [r for r in _rows(study) if r[3]]
    right = sum(
        all(not v for v in value["moves"].values()) and value["falls"] is False
        for _, _, value, _ in gold_rows
    )
    assert gold_rows, "the engine served the gold scene at the project's rate"
    assert results.value("gold") == pytest.approx(right / len(gold_rows))
    answered = {e.example_id for e, _, _, g in _rows(study) if not g}
    assert results.value("answered") == len(answered)
    assert results.value("scenes") == len(EXAMPLES)
    participants = (
        Participant.objects.filter(project=study, annotations__isnull=False)
        .exclude(status=Participant.Status.BLOCKED)
        .distinct()
        .count()
    )
    assert results.value("participants") == participants


def test_a_models_predictions_fill_its_column_and_table_4(study):
    version = ModelVersion.objects.create(
        project=study, number=1, trainer="cophy", seed=0, code_version="test", artifact="x"
    )
    for item in Item.objects.filter(project=study, kind=Item.Kind.REGULAR):
        example = Scene.objects.get(project=study, example_id=item.payload["example_id"]).example()
        Prediction.objects.create(
            model_version=version,
            item=item,
            value={
                "positions": _model_positions(example),
                "split": "train" if example.example_id == "blocktowerCF/3/1" else "test",
            },
            uncertainty=0.0,
        )
    results = COPHY.results(study)
    model = "Model v1"
    towers = [e for e in EXAMPLES if e.scenario == "blocktower"]
    right = total = 0
    for example in towers:
        pose = _with_start(example, _model_positions(example))
        said = _moves(pose, _present(example.cd), 2)
        for k, moves in _moves(example.cd[:, :, :3], _present(example.cd), 2).items():
            total += 1
            right += said[k] == moves
    assert _cell(results, "Will each block move?", "All block towers", model) == _percent(
        right, total
    )
    collision = EXAMPLES[4]
    mse = _mse(_model_positions(collision), collision.cd, 3)
    assert _cell(results, "Trajectory MSE", "Collision", model) == _mean([mse], 4)
    table4 = next(t for t in results.tables if t.title.startswith("CoPhy Table 4"))
    assert table4.rows[0][5] == _mean([mse], 4)
    note = next(t for t in results.tables if t.title.startswith("Will each block move?")).note
    assert "The model was trained on 1 of them" in note


def test_the_replay_carries_the_models_trajectory_for_the_ghosts(study, client, owner):
    import json
    import re

    version = ModelVersion.objects.create(
        project=study, number=1, trainer="cophy", seed=0, code_version="test", artifact="x"
    )
    scene = Scene.objects.get(project=study, example_id="collisionCF/1")
    example = scene.example()
    for item in Item.objects.filter(project=study, payload__example_id="collisionCF/1"):
        Prediction.objects.create(
            model_version=version,
            item=item,
            value={"positions": _model_positions(example), "split": "test"},
            uncertainty=0.0,
        )
    client.force_login(owner)
    html = client.get(reverse("cophy:scene_replay", args=[study.slug, scene.pk])).content.decode()
    spec = json.loads(
        re.search(r'<script id="cophy-spec" type="application/json">(.*?)</script>', html).group(1)
    )
    assert np.allclose(spec["model"], _model_positions(example), atol=1e-4)
    assert np.allclose(
        spec["cd"], np.concatenate([example.cd[:, :, :3], example.cd[:, :, 3:7]], -1), atol=1e-4
    )
    assert "Model v1&#x27;s prediction (ghosts)" in html or "Model v1's prediction (ghosts)" in html


def test_the_results_page_renders_the_tables_and_links_to_the_replays(study, client, owner):
    client.force_login(owner)
    html = client.get(reverse("dashboard:results", args=[study.slug])).content.decode()
    assert "Will each block move? Stability accuracy per block" in html
    assert "CoPhy Table 4 layout" in html
    assert reverse("cophy:scene_list", args=[study.slug]) in html
    assert reverse("cophy:scenes_zip", args=[study.slug]) in html
    assert "Chorus&#x27;s protocol" in html or "Chorus's protocol" in html


def test_the_scene_list_and_replay_show_the_truth_and_the_answers(study, client, owner, outsider):
    client.force_login(owner)
    page = client.get(reverse("cophy:scene_list", args=[study.slug])).content.decode()
    rows = _rows(study)
    first = [v for e, _, v, g in rows if e.example_id == "blocktowerCF/3/1" and not g]
    right = sum(
        (v["moves"]["red"] is False) + (v["moves"]["green"] is False) + (v["moves"]["blue"] is True)
        for v in first
    )
    share = f"{100 * right / (3 * len(first)):.0f}% of block answers right"
    assert share in page
    assert "falls; moving: blue" in page
    balls = [v for e, _, v, g in rows if e.example_id == "ballsCF/2/1"]
    mean = np.mean([math.hypot(v["x"] - 1.6, v["y"] - 1.0) for v in balls])
    assert f"mean error {mean:.2f}" in page
    assert "red ends at (1.60, 1.00), touches green first" in page

    scene = Scene.objects.get(project=study, example_id="blocktowerCF/3/1")
    html = client.get(reverse("cophy:scene_replay", args=[study.slug, scene.pk])).content.decode()
    said = sum(1 for v in first if v["falls"])
    assert (
        f'<td class="num">{said}</td><td class="num">{len(first) - said}</td><td>falls</td>' in html
    )
    assert "Mass" in html and "10.0" in html  # the hidden confounders, for researchers

    client.force_login(outsider)
    assert client.get(reverse("cophy:scene_list", args=[study.slug])).status_code == 404
    assert client.get(reverse("cophy:scene_replay", args=[study.slug, scene.pk])).status_code == 404
    assert client.get(reverse("cophy:scenes_zip", args=[study.slug])).status_code == 404
