"""The CoPhy results page: people, the copy baselines and the model on the same scenes, one
metric per table, in the layout of the paper's tables (predictors as columns).

* "Will each block move?" — stability accuracy per object (§3.4's "is moving" label over D);
* "Will the tower fall?" — accuracy per scene;
* "Where does the marked object end up?" — the distance of the predicted final (x, y) to D's;
* "What does it touch first?" — accuracy (Chorus's own label, see ``scoring.py``);
* trajectory MSE (§3.4), which only trajectories have; people predict no trajectory;
* CoPhy's Table 4 (CollisionCF) with only what Chorus ran: the paper's own numbers are not
  available to Chorus, so they are marked, never filled in.

A trajectory predictor (Copy C, Copy B, the model) answers the questions the way a real run
is labelled (``scoring.trajectory_score``); it is scored once per scene on the scenes people
answered, a person once per answer. Blocked participants' answers and gold scenes are left
out of the comparison.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint

from apps.core.models import Item, Participant, Project
from apps.core.registry import Metric, Results, Table
from apps.core.results import BarFigure, BarSeries, Link

from . import scoring, selectors
from .schemas import CONDITION_LABELS, CONDITION_SHORT, CONDITIONS, SCENARIO_TITLES, config_of

SCENARIO_ORDER = ("blocktower", "balls", "collision")
BASELINES = (("copy_c", "Copy C"), ("copy_b", "Copy B"))
NOT_RUN = "not run"
NOT_TRAINED = "not trained yet"
NOT_REPORTED = "not available"


@dataclass
class Tally:
    """Right answers out of all, for an accuracy."""

    right: int = 0
    total: int = 0

    def add(self, correct: bool) -> None:
        self.right += int(bool(correct))
        self.total += 1

    @property
    def share(self) -> float | None:
        return self.right / self.total if self.total else None


@dataclass
class Values:
    """Numbers to average (position errors, MSEs)."""

    values: list[float] = field(default_factory=list)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None


@dataclass
class Scores:
    """One predictor's scores in one group of scenes."""

    blocks: Tally = field(default_factory=Tally)
    falls: Tally = field(default_factory=Tally)
    error: Values = field(default_factory=Values)
    contact: Tally = field(default_factory=Tally)
    mse: Values = field(default_factory=Values)


def group_of(scenario: str, n_objects: int) -> tuple[int, int, str]:
    """(sort key, sort key, row label) of a scene's group: scenario and object count."""
    title = SCENARIO_TITLES[scenario]
    if scenario == "collision":
        return SCENARIO_ORDER.index(scenario), 0, title
    noun = "blocks" if scenario == "blocktower" else "balls"
    return SCENARIO_ORDER.index(scenario), n_objects, f"{title}, {n_objects} {noun}"


ALL_TOWERS = (0, 99, "All block towers")
ALL_CLICKS = (1, 99, "All balls and collisions")


def _percent(tally: Tally) -> str | None:
    share = tally.share
    return None if share is None else f"{100 * share:.1f}% (n={tally.total})"


def _mean(values: Values, digits: int = 2) -> str | None:
    mean = values.mean
    return None if mean is None else f"{mean:.{digits}f} (n={len(values.values)})"


@dataclass
class Comparison:
    """Everything the page shows, computed once."""

    predictors: list[tuple[str, str]]  # (key, column title)
    groups: dict[tuple, dict[str, Scores]]  # group → predictor → scores (answered scenes)
    mse: dict[tuple, dict[str, Values]]  # group → trajectory predictor → MSEs (all scenes)
    answered: int  # scenes people answered
    scenes: int  # regular scenes
    model_label: str | None
    model_trained_on: int  # of the answered scenes, how many the model was trained on
    people: dict[str, Scores]  # condition → all of that condition's answers
    gold: Tally
    answers: int  # answers counted (gold included)


def compare(project: Project) -> Comparison:
    config = config_of(project)
    scenes = selectors.examples(project)
    truths = {eid: scoring.truth_of(example) for eid, (_, example) in scenes.items()}
    used = selectors.used_answers(project)
    version = selectors.model_version(project)
    model = selectors.model_trajectories(version)
    conditions = [c for c in config.conditions] + sorted(
        {a.condition for a in used} - set(config.conditions)
    )
    model_label = f"Model v{version.number}" if version else None
    predictors = [*BASELINES, ("model", model_label or "Model")]
    predictors += [(f"people:{c}", CONDITION_SHORT.get(c, c)) for c in conditions]

    groups: dict[tuple, dict[str, Scores]] = defaultdict(lambda: defaultdict(Scores))
    people: dict[str, Scores] = defaultdict(Scores)
    gold = Tally()
    answered: set[str] = set()
    for a in used:
        if a.example_id not in scenes:
            continue
        scene, example = scenes[a.example_id]
        if a.gold or scene.gold:
            gold.add(_gold_right(project, a))
            continue
        answered.add(a.example_id)
        truth = truths[a.example_id]
        score = scoring.answer_score(example, truth, a.value)
        for key in (group_of(example.scenario, example.n_objects), _all_of(truth.question)):
            _add(groups[key][f"people:{a.condition}"], score)
        _add(people[a.condition], score)

    mse: dict[tuple, dict[str, Values]] = defaultdict(lambda: defaultdict(Values))
    trained_on = 0
    regular = 0
    for example_id, (scene, example) in scenes.items():
        if scene.gold:
            continue
        regular += 1
        truth = truths[example_id]
        trajectories = dict(scoring.baseline_predictions(example))
        if example_id in model:
            trajectories["model"] = model[example_id].positions
        row = group_of(example.scenario, example.n_objects)
        for name, prediction in trajectories.items():
            predicted = scoring.trajectory_score(example, truth, prediction)
            mse[row][name].values.append(predicted.mse)
            if example_id not in answered:
                continue
            for group in (row, _all_of(truth.question)):
                _add(groups[group][name], predicted)
        if example_id in answered and example_id in model and model[example_id].split == "train":
            trained_on += 1
    return Comparison(
        predictors=predictors,
        groups=groups,
        mse=mse,
        answered=len(answered),
        scenes=regular,
        model_label=model_label,
        model_trained_on=trained_on,
        people=people,
        gold=gold,
        answers=sum(1 for a in used if a.example_id in scenes),
    )


def _all_of(question: str) -> tuple:
    return ALL_TOWERS if question == "tower" else ALL_CLICKS


def _gold_right(project: Project, answer: selectors.Answer) -> bool:
    from .tasktype import COPHY

    item = Item.objects.select_related("project").get(pk=answer.item)
    return COPHY.gold_correct(item, answer.value)


def _add(target: Scores, score: scoring.AnswerScore | scoring.TrajectoryScore) -> None:
    for right in score.blocks:
        target.blocks.add(right)
    if score.falls is not None:
        target.falls.add(score.falls)
    if score.error is not None:
        target.error.values.append(score.error)
    if score.contact is not None:
        target.contact.add(score.contact)


def _cells(c: Comparison, group: tuple, measure: str) -> list:
    row: list = []
    for key, _ in c.predictors:
        scores = c.groups.get(group, {}).get(key)
        if key == "model" and c.model_label is None:
            row.append(NOT_TRAINED)
            continue
        if scores is None:
            row.append(None)
            continue
        value = getattr(scores, measure)
        row.append(_mean(value) if isinstance(value, Values) else _percent(value))
    return row


def _table(c: Comparison, title: str, measure: str, question: str, note: str) -> Table | None:
    total = ALL_TOWERS if question == "tower" else ALL_CLICKS
    towers = question == "tower"
    groups = sorted(g for g in c.groups if g != total and (g[0] == 0) == towers)
    rows = []
    for group in [*groups, total]:
        cells = _cells(c, group, measure)
        if all(cell in (None, NOT_TRAINED) for cell in cells):
            continue
        rows.append([group[2], *cells])
    if not rows:
        return None
    return Table(
        title=title, columns=["Scenes", *(t for _, t in c.predictors)], rows=rows, note=note
    )


def _mse_table(c: Comparison) -> Table | None:
    rows = []
    for group in sorted(c.mse):
        cells: list = []
        for key, _ in c.predictors:
            if key.startswith("people:"):
                cells.append("not applicable")
            elif key == "model" and c.model_label is None:
                cells.append(NOT_TRAINED)
            else:
                cells.append(_mean(c.mse[group].get(key, Values()), 4))
        rows.append([group[2], *cells])
    if not rows:
        return None
    return Table(
        title="Trajectory MSE of D (CoPhy's metric; lower is better)",
        columns=["Scenes", *(t for _, t in c.predictors)],
        rows=rows,
        note="Mean over every regular scene of Σ presence · mean over coordinates of the squared "
        "position error, t = 1…T−1, divided by the objects present × (T−1) (PROTOCOLS.md §3.4: "
        "x, y, z for towers and collisions; x, y for balls). People predict no trajectory, so "
        "they have no MSE.",
    )


def _table4(c: Comparison) -> Table:
    """CoPhy's Table 4 (CollisionCF, MSE on 3-D pose averaged over time) with what Chorus ran."""
    group = group_of("collision", 2)
    values = c.mse.get(group, {})
    n = len(values.get("copy_c", Values()).values)
    model = _mean(values["model"], 4) if "model" in values else NOT_TRAINED
    return Table(
        title="CoPhy Table 4 layout: CollisionCF, MSE on 3-D pose averaged over time",
        columns=["Source", "Copy C", "Copy B", "IN", "NPE", "CoPhyNet", "IN sup."],
        rows=[
            [
                f"Chorus, this project ({n} collision scene{'s' if n != 1 else ''})",
                _mean(values.get("copy_c", Values()), 4) or "no scenes",
                _mean(values.get("copy_b", Values()), 4) or "no scenes",
                NOT_RUN,
                NOT_RUN,
                model if n else "no scenes",
                NOT_RUN,
            ],
            ["CoPhy paper (Baradel et al., ICLR 2020)", *[NOT_REPORTED] * 6],
        ],
        note="The paper's numbers for this table were not available when Chorus was built, so "
        "that row is left unfilled rather than guessed. Chorus runs Copy C, Copy B and its "
        "CoPhyNet-style model (in the CoPhyNet column, once one is trained); IN, NPE and IN "
        "sup. are not implemented.",
    )


def _bar(c: Comparison, key: str, title: str, group: tuple, measure: str, y_label: str):
    names, values = [], []
    for predictor, label in c.predictors:
        scores = c.groups.get(group, {}).get(predictor)
        if scores is None:
            continue
        value = getattr(scores, measure)
        number = value.mean if isinstance(value, Values) else value.share
        if number is None:
            continue
        names.append(label.replace(" (", "\n("))  # bar labels sit side by side
        values.append(100 * number if measure != "error" else number)
    if not names:
        return None
    return BarFigure(
        key=key,
        title=title,
        categories=names,
        series=[BarSeries(name=y_label, values=values)],
        y_label=y_label,
        x_label="Predictor",
        y_range=(0, 100) if measure != "error" else None,
    )


def _wilson(tally: Tally) -> tuple[float, float] | None:
    if not tally.total:
        return None
    low, high = proportion_confint(tally.right, tally.total, alpha=0.05, method="wilson")
    return float(low), float(high)


def _condition_order(condition: str) -> int:
    return CONDITIONS.index(condition) if condition in CONDITIONS else len(CONDITIONS)


def _people_metrics(c: Comparison) -> list[Metric]:
    metrics = []
    for condition, scores in sorted(c.people.items(), key=lambda kv: _condition_order(kv[0])):
        group = f"People: {CONDITION_LABELS.get(condition, condition)}"
        for measure, label, help_text in (
            ("blocks", "Will each block move? (accuracy)", "Share of per-block answers right."),
            ("falls", "Will the tower fall? (accuracy)", "Share of tower answers right."),
            ("contact", "Touches first (accuracy)", "Share of first-contact answers right."),
        ):
            tally = getattr(scores, measure)
            if tally.total:
                metrics.append(
                    Metric(
                        key=f"{condition}_{measure}",
                        label=label,
                        value=tally.share,
                        group=group,
                        interval=_wilson(tally),
                        interval_label="95% Wilson CI",
                        note=f"{tally.right} of {tally.total}",
                        help=help_text,
                    )
                )
        if scores.error.values:
            metrics.append(
                Metric(
                    key=f"{condition}_error",
                    label="Final-position error (mean distance)",
                    value=scores.error.mean,
                    group=group,
                    digits=2,
                    note=f"{len(scores.error.values)} clicks",
                    help="Distance from the click to the marked object's final (x, y); a block "
                    "is 1 wide.",
                )
            )
    return metrics


def cophy_results(*, project: Project) -> Results:
    c = compare(project)
    participants = (
        Participant.objects.filter(project=project, annotations__isnull=False)
        .exclude(status=Participant.Status.BLOCKED)
        .distinct()
        .count()
    )
    metrics = [
        Metric(key="scenes", label="Scenes", value=c.scenes, group="Study"),
        Metric(key="answered", label="Scenes people answered", value=c.answered, group="Study"),
        Metric(key="participants", label="Participants", value=participants, group="Study"),
        *_people_metrics(c),
    ]
    if c.gold.total:
        metrics.append(
            Metric(
                key="gold",
                label="Gold scenes answered right",
                value=c.gold.share,
                group="Study",
                note=f"{c.gold.right} of {c.gold.total}",
            )
        )
    same = (
        f"Every column is scored on the {c.answered} scene{'s' if c.answered != 1 else ''} "
        "people answered (gold scenes and blocked participants left out): a copy baseline or "
        "the model once per scene, people once per answer."
    )
    if c.model_label:
        same += (
            f" The model was trained on {c.model_trained_on} of them; its held-out scores are "
            "on the Models tab."
        )
    tables = [
        _table(
            c,
            "Will each block move? Stability accuracy per block (higher is better)",
            "blocks",
            "tower",
            same + " A block moves when its \u201cis moving\u201d label (PROTOCOLS.md §3.4) is "
            "on at some time of D; the removed block is not asked.",
        ),
        _table(
            c,
            "Will the tower fall? Accuracy per scene (higher is better)",
            "falls",
            "tower",
            same + " A tower falls when its blocks' positions at D's end differ from C's by 0.05 "
            "or more in all.",
        ),
        _table(
            c,
            "Where does the marked object end up? Distance to its true final position (lower "
            "is better)",
            "error",
            "click",
            same + " Mean distance in the ground plane between the predicted and the true (x, y) "
            "at D's end; a block is 1 wide.",
        ),
        _table(
            c,
            "What does the marked object touch first? Accuracy (higher is better)",
            "contact",
            "click",
            same + " Chorus's label, read off D's states at 5 fps (surfaces within 0.1); an "
            "approximation when objects move fast.",
        ),
        _mse_table(c),
        _table4(c),
    ]
    figures = [
        f
        for f in (
            _bar(
                c,
                "tower-blocks",
                "Will each block move? Accuracy on the same towers",
                ALL_TOWERS,
                "blocks",
                "accuracy (%)",
            ),
            _bar(
                c,
                "final-position",
                "Final-position error on the same balls and collisions",
                ALL_CLICKS,
                "error",
                "mean distance",
            ),
        )
        if f is not None
    ]
    slug = project.slug
    return Results(
        metrics=metrics,
        tables=[t for t in tables if t is not None],
        figures=figures,
        notes=[
            "The human study is Chorus's protocol (PROTOCOLS.md §3.5), not the paper's: CoPhy "
            "compares its model with people but does not say how. \u201cWatched A \u2192 B\u201d "
            "is CoPhy's setting (the hidden masses and frictions can be inferred from the "
            "observed run); \u201cC only\u201d is the control without it. Model columns hold "
            f"\u201c{NOT_TRAINED}\u201d until a model is trained on the Models tab."
        ],
        links=[
            Link(
                label="Replay each scene with the answers",
                url=reverse("cophy:scene_list", args=[slug]),
                note="A → B, the true C → D, people's answers and the model's prediction.",
            ),
            Link(
                label="Download the scenes as CoPhy example folders (zip)",
                url=reverse("cophy:scenes_zip", args=[slug]),
                note="The official layout; it imports again unchanged.",
            ),
        ],
    )
