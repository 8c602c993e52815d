"""The MOS results page and exports against numbers recomputed here from the database rows.

A fixed vote table (4 listeners × 3 systems × 4 utterances, plus a trapping clip one listener
gets wrong) goes in as real Annotation rows; every figure the page shows is recomputed with
numpy/scipy from ``Annotation.objects`` directly, not from the app's frames.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from scipy import stats as sps

from apps.core.models import Annotation, Assignment, Item, Participant
from apps.mos import exports
from apps.mos.schemas import Config
from apps.mos.tasktype import MOS
from tests.factories import ParticipantFactory, ProjectFactory

pytestmark = pytest.mark.django_db

SYSTEMS = {"reference": 4.5, "good": 3.6, "bad": 2.1}
UTTERANCES = ["u1", "u2", "u3", "u4"]
# listener offsets: the votes cluster by listener
OFFSETS = [0.4, 0.0, -0.3, -0.6]


def _vote(rng, system: str, offset: float) -> int:
    return int(min(5, max(1, round(SYSTEMS[system] + offset + rng.normal(0, 0.5)))))


@pytest.fixture
def study():
    config = Config(qc={"qualification": False, "min_variance": 0.1}).model_dump(mode="json")
    project = ProjectFactory(task_type="mos", config=config, overlap=10)
    items = {}
    for system in SYSTEMS:
        for utterance in UTTERANCES:
            items[system, utterance] = Item.objects.create(
                project=project,
                external_id=f"{system}/{utterance}",
                payload={"system": system, "utterance_id": utterance, "role": "test"},
                group=f"utt:{utterance}",
            )
    trap = Item.objects.create(
        project=project,
        external_id="trap/1",
        kind=Item.Kind.ATTENTION,
        gold_value={"score": 2},
        payload={"system": "good", "utterance_id": "u1", "role": "trap"},
    )
    rng = np.random.default_rng(3)
    listeners = []
    for n, offset in enumerate(OFFSETS):
        person = ParticipantFactory(project=project, external_id=f"PROLIFIC{n}")
        listeners.append(person)
        for (system, _), item in items.items():
            _answer(person, item, {"score": _vote(rng, system, offset)})
        # listener 3 fails the trap: "please select Poor" answered Excellent
        _answer(person, trap, {"score": 5 if n == 3 else 2})
    return project, listeners


def _answer(participant: Participant, item: Item, value: dict) -> None:
    assignment = Assignment.objects.create(
        item=item,
        participant=participant,
        status=Assignment.Status.SUBMITTED,
        expires_at="2030-01-01T00:00:00Z",
    )
    Annotation.objects.create(
        assignment=assignment,
        project=item.project,
        item=item,
        participant=participant,
        value=value,
        client_token=uuid.uuid4().hex,
    )


def _db_votes(project, excluded: set[int]) -> dict[str, list[float]]:
    """Test votes per system straight from the Annotation table."""
    votes: dict[str, list[float]] = {}
    for value, payload, kind, rater in Annotation.objects.filter(project=project).values_list(
        "value", "item__payload", "item__kind", "participant_id"
    ):
        if kind == Item.Kind.REGULAR and rater not in excluded:
            votes.setdefault(payload["system"], []).append(float(value["score"]))
    return votes


def _table(results, title_start: str):
    return next(t for t in results.tables if t.title.startswith(title_start))


def test_the_trap_failer_is_excluded_and_the_table_matches_numpy(study):
    project, listeners = study
    results = MOS.results(project)
    metrics = {m.key: m.value for m in results.metrics}
    assert metrics["listeners"] == 4
    assert metrics["excluded"] == 1
    excluded = {listeners[3].pk}
    votes = _db_votes(project, excluded)
    assert metrics["votes_used"] == sum(len(v) for v in votes.values()) == 3 * 3 * 4

    table = _table(results, "MOS per system")
    rows = {row[0]: row for row in table.rows}
    assert [row[0] for row in table.rows] == sorted(votes, key=lambda s: -np.mean(votes[s]))
    for system, values in votes.items():
        x = np.array(values)
        n, mean, sd = len(x), x.mean(), x.std(ddof=1)
        row = dict(zip(table.columns, rows[system], strict=True))
        assert row["MOS (CI, clustered)"].startswith(f"{mean:.2f} (±")
        assert row["Votes"] == n and row["Listeners"] == 3 and row["Utterances"] == 4
        assert row["SD"] == pytest.approx(sd, abs=1e-3)
        assert row["± normal (P.808)"] == f"±{1.96 * sd / math.sqrt(n):.2f}"
        assert row["± t"] == f"±{sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n):.2f}"

    screening = _table(results, "Screening")
    by_rule = {row[0]: row for row in screening.rows}
    assert by_rule["Trapping clips answered as asked"][2:] == [4, 1]

    listeners_table = _table(results, "Each listener's ratings")
    trap_row = next(r for r in listeners_table.rows if r[0] == f"Listener {listeners[3].pk}")
    assert "trapping" in trap_row[-1]


def test_the_plot_is_ordered_by_score(study):
    project, listeners = study
    figure = next(f for f in MOS.results(project).figures if f.key == "mos_by_system")
    means = figure.series[0].values
    assert means == sorted(means)
    lower, upper = figure.series[0].lower, figure.series[0].upper
    assert all(lo < m < hi for lo, m, hi in zip(lower, means, upper, strict=True))


def test_pairwise_tests_match_scipy_on_per_utterance_means(study):
    project, listeners = study
    excluded = {listeners[3].pk}
    per_utt: dict[tuple[str, str], list[float]] = {}
    for value, payload, kind, rater in Annotation.objects.filter(project=project).values_list(
        "value", "item__payload", "item__kind", "participant_id"
    ):
        if kind == Item.Kind.REGULAR and rater not in excluded:
            key = (payload["system"], payload["utterance_id"])
            per_utt.setdefault(key, []).append(value["score"])
    table = _table(MOS.results(project), "Pairwise")
    row = next(r for r in table.rows if {r[0], r[1]} == {"reference", "bad"})
    a = [np.mean(per_utt[row[0], u]) for u in UTTERANCES]
    b = [np.mean(per_utt[row[1], u]) for u in UTTERANCES]
    assert row[3] == pytest.approx(np.mean(a) - np.mean(b), abs=1e-3)
    expected_p = sps.wilcoxon(a, b).pvalue
    assert row[4] == ("< 0.001" if expected_p < 0.001 else f"{expected_p:.3f}")


def test_exports_mark_the_excluded_listener_and_use_the_p808_layout(study):
    project, listeners = study
    failer = listeners[3].pk
    votes = list(exports.vote_records(project))
    assert len(votes) == Annotation.objects.filter(project=project).count()
    flagged = {v["worker"] for v in votes if v["excluded"]}
    assert flagged == {f"p{failer}"}
    assert all("PROLIFIC" not in str(v) for v in votes)

    per_worker = list(exports.worker_votes(project))
    assert list(per_worker[0])[:5] == ["HITId", "workerid", "file", "vote", "condition"]
    assert {r["used"] for r in per_worker if r["workerid"] == f"p{failer}"} == {False}

    per_cond = {r["condition"]: r for r in exports.condition_votes(project)}
    db = _db_votes(project, {failer})
    for system, values in db.items():
        x = np.array(values)
        assert per_cond[system]["n"] == len(x)
        assert per_cond[system]["MOS"] == pytest.approx(x.mean(), abs=1e-4)
        assert per_cond[system]["95%CI"] == pytest.approx(
            1.96 * x.std(ddof=1) / math.sqrt(len(x)), abs=1e-4
        )
    per_clip = list(exports.clip_votes(project))
    assert len(per_clip) == len(SYSTEMS) * len(UTTERANCES)
    assert all(r["n"] == 3 for r in per_clip)


def test_blocking_a_listener_excludes_them_too(study):
    project, listeners = study
    listeners[0].status = Participant.Status.BLOCKED
    listeners[0].save(update_fields=["status"])
    metrics = {m.key: m.value for m in MOS.results(project).metrics}
    assert metrics["excluded"] == 2
    assert metrics["votes_used"] == 2 * 3 * 4
