"""The results figures and the export, checked against values computed here from the database."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from html import unescape as html_unescape

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from apps.core import engine, quality, registry
from apps.core.models import Annotation, Assignment, Item, Participant
from apps.core.results import BarFigure, HistogramFigure, ScatterFigure
from apps.core.tasks import results_compute
from apps.humor.exports import post_records
from apps.humor.schemas import EXPORT_COLUMNS
from tests.factories import ParticipantFactory

from .conftest import configure, jsonl, post

pytestmark = pytest.mark.django_db

# Four humorous-looking posts (Haha-heavy), four plain ones, and one nobody reacted to.
POSTS = [post(f"h{i}", f"joke {i}", like=20 + 5 * i, haha=80 - 5 * i) for i in range(4)]
POSTS += [
    post(f"n{i}", f"news {i}", like=80 + i, love=5, sad=5, angry=5, wow=5 - i) for i in range(4)
]
POSTS += [post("z", "silence")]

# What each annotator answers per post ("truthful" follows the h/n prefix).
TRUTHFUL = {f"h{i}": "yes" for i in range(4)} | {f"n{i}": "no" for i in range(4)} | {"z": "no"}
ANSWERS = {
    "alice": TRUTHFUL,
    "bob": {**TRUTHFUL, "h3": "no", "n0": "yes"},
    "carol": {**TRUTHFUL, "h2": "no"},
    "mallory": {k: "yes" for k in TRUTHFUL},  # blocked below: must not count
}


@pytest.fixture
def answered(humor_project):
    configure(humor_project, k=4)
    humor_project.overlap = 5
    humor_project.save(update_fields=["overlap"])
    report = registry.get("humor").import_items(humor_project, jsonl(POSTS))
    assert report.ok, report.errors
    for name, answers in ANSWERS.items():
        worker = ParticipantFactory(project=humor_project, external_id=name)
        while (assignment := engine.next_item(participant=worker).assignment) is not None:
            engine.annotation_submit(
                assignment=assignment,
                value={"funny": answers[assignment.item.external_id]},
                client_token=f"{name}-{assignment.pk}",
            )
    Participant.objects.get(external_id="mallory").block("test")
    dave = ParticipantFactory(project=humor_project, external_id="dave")  # skips one post
    engine.assignment_skip(assignment=engine.next_item(participant=dave).assignment)
    return humor_project


def from_database(project):
    """(item pk, worker, label) of counted answers and the yes/no reaction truth, read here."""
    rows = [
        (a.item_id, a.participant.external_id, a.value["funny"])
        for a in Annotation.objects.filter(project=project, item__kind="regular")
        .exclude(participant__status="blocked")
        .select_related("participant")
    ]
    truth = {
        i.pk: {"humorous": "yes", "non_humorous": "no"}[i.payload["reaction_label"]]
        for i in project.items.filter(kind="regular")
        if i.payload["reaction_label"]
    }
    return rows, truth


def prf(pairs):
    tp = sum(t == "yes" and p == "yes" for t, p in pairs)
    fp = sum(t == "no" and p == "yes" for t, p in pairs)
    fn = sum(t == "yes" and p == "no" for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def test_majority_vote_against_reaction_labels_matches_a_hand_count(answered):
    rows, truth = from_database(answered)
    votes = defaultdict(Counter)
    for item, _, label in rows:
        votes[item][label] += 1
    majority = {item: c.most_common(1)[0][0] for item, c in votes.items()}  # 3 votes: no ties
    pairs = [(truth[i], majority[i]) for i in majority if i in truth]
    precision, recall, f1 = prf(pairs)

    metrics = registry.get("humor").results(answered).values
    assert metrics["majority_n"] == len(pairs) == 8
    assert metrics["majority_precision"] == pytest.approx(precision)
    assert metrics["majority_recall"] == pytest.approx(recall)
    assert metrics["majority_f1"] == pytest.approx(f1)
    assert metrics["answers"] == len(rows) == 27
    assert metrics["annotators"] == 3
    assert metrics["reference_human_f1"] == 0.867


def test_the_confusion_matrix_counts_reaction_against_human_labels(answered):
    rows, truth = from_database(answered)
    votes = defaultdict(Counter)
    for item, _, label in rows:
        votes[item][label] += 1
    cells = Counter((truth[i], c.most_common(1)[0][0]) for i, c in votes.items() if i in truth)
    table = next(
        t
        for t in registry.get("humor").results(answered).tables
        if t.title.startswith("Confusion matrix") and "majority" in t.title
    )
    assert table.rows == [
        ["humorous", cells["yes", "yes"], cells["yes", "no"]],
        ["non-humorous", cells["no", "yes"], cells["no", "no"]],
    ]


def test_dawid_skene_and_alpha_match_the_libraries_run_on_the_database_rows(answered):
    rows, truth = from_database(answered)
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    ds = DawidSkene(n_iter=100).fit_predict(frame)
    pairs = [(truth[i], ds[i]) for i in ds.index if i in truth]
    workers = sorted(frame["worker"].unique())
    items = sorted(frame["task"].unique())
    code = {"no": 0, "yes": 1}
    matrix = np.full((len(workers), len(items)), np.nan)
    for item, worker, label in rows:
        matrix[workers.index(worker), items.index(item)] = code[label]
    alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")

    metrics = registry.get("humor").results(answered).values
    precision, recall, f1 = prf(pairs)
    assert metrics["dawid_skene_precision"] == pytest.approx(precision)
    assert metrics["dawid_skene_recall"] == pytest.approx(recall)
    assert metrics["dawid_skene_f1"] == pytest.approx(f1)
    assert metrics["dawid_skene_n"] == len(pairs)
    assert metrics["krippendorff_alpha"] == pytest.approx(alpha)


def test_per_annotator_f1_leaves_out_blocked_participants(answered):
    rows, truth = from_database(answered)
    expected = {}
    for name in ("alice", "bob", "carol"):
        pairs = [(truth[i], label) for i, w, label in rows if w == name and i in truth]
        expected[f"Prolific · {name}"] = round(prf(pairs)[2], 3)
    results = registry.get("humor").results(answered)
    table = next(t for t in results.tables if t.title.startswith("Per-annotator"))
    assert {row[0]: row[5] for row in table.rows} == expected
    assert results.value("mean_annotator_f1") == pytest.approx(
        np.mean(
            [
                prf([(truth[i], label) for i, w, label in rows if w == name and i in truth])[2]
                for name in ("alice", "bob", "carol")
            ]
        )
    )


def test_hs_and_ns_histograms_are_the_stored_scores_binned(answered):
    payloads = [i.payload for i in answered.items.filter(kind="regular")]
    hs = [p["hs"] for p in payloads]
    ns = [p["ns"] for p in payloads if p["ns"] is not None]
    figures = {f.title.split(" (")[0]: f for f in registry.get("humor").results(answered).figures}
    hs_figure = figures["Humor score"]
    assert isinstance(hs_figure, HistogramFigure) and hs_figure.kind == "histogram"
    assert len(hs_figure.edges) == len(hs_figure.counts) + 1 == 21
    edges = hs_figure.edges
    assert edges[0] == 0.0 and edges[-1] == 1.0
    by_hand = [
        sum(edges[b] <= v < edges[b + 1] or (b == 19 and v == edges[20]) for v in hs)
        for b in range(20)
    ]
    assert hs_figure.counts == by_hand
    assert hs_figure.table().rows[0] == [edges[0], edges[1], by_hand[0]]
    ns_figure = figures["Non-humor score"]
    assert sum(ns_figure.counts) == len(ns) == 8
    assert ns_figure.edges[0] == pytest.approx(min(ns))
    assert ns_figure.edges[-1] == pytest.approx(max(ns))


def test_the_reference_f1_is_shown_with_the_note_that_its_protocol_is_unknown(answered):
    results = registry.get("humor").results(answered)
    comparison = results.tables[0]
    assert comparison.rows[-1][0].startswith("CHoRaL slides") and comparison.rows[-1][-1] == 0.867
    assert "protocol" in comparison.note and "unknown" in comparison.note


def wilson(k, n, z=1.959963984540054):
    """The Wilson score interval, by its formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def hand_majority(rows):
    votes = defaultdict(Counter)
    for item, _, label in rows:
        votes[item][label] += 1
    return {item: c.most_common(1)[0][0] for item, c in votes.items()}  # 3 voters: no ties


def others_majority(rows):
    """Per annotator: (own label, majority of the other annotators) on posts they don't tie."""
    by_item = defaultdict(list)
    for item, worker, label in rows:
        by_item[item].append((worker, label))
    out = defaultdict(list)
    for votes in by_item.values():
        for worker, label in votes:
            others = Counter(other for w, other in votes if w != worker)
            (top, n), *rest = others.most_common()
            if rest and rest[0][1] == n:
                continue
            out[worker].append((label, top))
    return out


def kappa(pairs):
    po = sum(a == b for a, b in pairs) / len(pairs)
    labels = {x for pair in pairs for x in pair}
    pe = sum(
        (sum(a == lab for a, _ in pairs) / len(pairs))
        * (sum(b == lab for _, b in pairs) / len(pairs))
        for lab in labels
    )
    return None if pe == 1 else (po - pe) / (1 - pe)


def test_precision_and_recall_come_with_wilson_intervals(answered):
    rows, truth = from_database(answered)
    majority = hand_majority(rows)
    pairs = [(truth[i], majority[i]) for i in majority if i in truth]
    tp = sum(t == p == "yes" for t, p in pairs)
    predicted = sum(p == "yes" for _, p in pairs)
    actual = sum(t == "yes" for t, _ in pairs)
    results = registry.get("humor").results(answered)
    assert results.metric("majority_precision").interval == pytest.approx(wilson(tp, predicted))
    assert results.metric("majority_recall").interval == pytest.approx(wilson(tp, actual))
    bars = results.figure("against-reaction-labels")
    assert isinstance(bars, BarFigure) and bars.categories == ["precision", "recall", "F1"]
    majority_bars = bars.series[0]
    assert majority_bars.values == pytest.approx(list(prf(pairs)))
    assert majority_bars.lower[:2] == pytest.approx(
        [wilson(tp, predicted)[0], wilson(tp, actual)[0]]
    )
    assert majority_bars.upper[2] is None  # F1 has no closed-form interval
    assert bars.references[0].value == 0.867


def test_agreement_with_the_others_majority_and_kappa_match_a_hand_count(answered):
    rows, truth = from_database(answered)
    pairs = others_majority(rows)
    results = registry.get("humor").results(answered)
    table = next(t for t in results.tables if t.title.startswith("Per-annotator"))
    for row in table.rows:
        name = row[0].split(" · ", 1)[1]  # the name pages give: "Prolific · alice"
        mine = pairs[name]
        assert row[1] == sum(w == name for _, w, _ in rows)
        assert row[2] == sum(w == name and i in truth for i, w, _ in rows)
        assert row[6] == round(sum(a == b for a, b in mine) / len(mine), 3)
        expected_kappa = kappa(mine)
        assert row[7] == (round(expected_kappa, 3) if expected_kappa is not None else "—")
    scatter = results.figure("annotators")
    assert isinstance(scatter, ScatterFigure)
    points = dict(zip(scatter.labels, zip(scatter.x, scatter.y, strict=True), strict=True))
    for name in ("alice", "bob", "carol"):
        mine = pairs[name]
        own = [(truth[i], label) for i, w, label in rows if w == name and i in truth]
        assert points[f"Prolific · {name}"] == pytest.approx(
            (sum(a == b for a, b in mine) / len(mine), prf(own)[2])
        )


def test_counts_on_the_cards_and_bars_match_the_database(answered):
    regular = list(answered.items.filter(kind="regular"))
    labels = Counter(i.payload["reaction_label"] for i in regular)
    rows, _ = from_database(answered)
    splits = Counter(i.payload.get("split") for i in regular if i.payload["reaction_label"])
    skipped = Assignment.objects.filter(item__project=answered, status="skipped").count()
    results = registry.get("humor").results(answered)
    values = results.values
    assert values["posts"] == len(regular) == 9
    assert (values["humorous"], values["non_humorous"], values["unlabelled"]) == (
        labels["humorous"],
        labels["non_humorous"],
        labels[None],
    )
    assert (values["train"], values["test"]) == (splits["train"], splits["test"])
    assert values["skipped"] == skipped == 1
    assert values["annotators"] == len({w for _, w, _ in rows}) == 3
    reaction_bars = results.figure("reaction-labels")
    assert reaction_bars.series[0].values == [
        labels["humorous"],
        labels["non_humorous"],
        labels[None],
    ]
    answers = Counter(label for _, _, label in rows)
    human_bars = results.figure("human-answers")
    assert human_bars.counts and human_bars.series[0].values == [
        answers["yes"],
        answers["no"],
        skipped,
    ]


def expected_cards(project):
    """Every metric card of the humor results, recomputed here from the database."""
    rows, truth = from_database(project)
    majority = hand_majority(rows)
    pairs = [(truth[i], majority[i]) for i in majority if i in truth]
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    ds = DawidSkene(n_iter=100).fit_predict(frame)
    ds_pairs = [(truth[i], ds[i]) for i in ds.index if i in truth]
    regular = list(project.items.filter(kind="regular"))
    labels = Counter(i.payload["reaction_label"] for i in regular)
    splits = Counter(i.payload.get("split") for i in regular if i.payload["reaction_label"])
    workers = sorted({w for _, w, _ in rows})
    items = sorted({i for i, _, _ in rows})
    matrix = np.full((len(workers), len(items)), np.nan)
    for item, worker, label in rows:
        matrix[workers.index(worker), items.index(item)] = {"no": 0, "yes": 1}[label]
    own_f1 = [
        prf([(truth[i], label) for i, w, label in rows if w == name and i in truth])[2]
        for name in workers
    ]
    reacted = sum(1 for i in regular if sum(i.payload["reactions"].values()) > 0)
    return {
        "posts": len(regular),
        "k": min(project.config["k"], reacted // 2),  # K, capped by the corpus
        "humorous": labels["humorous"],
        "non_humorous": labels["non_humorous"],
        "unlabelled": labels[None],
        "train": splits["train"],
        "test": splits["test"],
        "answers": len(rows),
        "annotators": len(workers),
        "skipped": Assignment.objects.filter(item__project=project, status="skipped").count(),
        "krippendorff_alpha": krippendorff.alpha(
            reliability_data=matrix, level_of_measurement="nominal"
        ),
        "majority_precision": prf(pairs)[0],
        "majority_recall": prf(pairs)[1],
        "majority_f1": prf(pairs)[2],
        "majority_n": len(pairs),
        "dawid_skene_precision": prf(ds_pairs)[0],
        "dawid_skene_recall": prf(ds_pairs)[1],
        "dawid_skene_f1": prf(ds_pairs)[2],
        "dawid_skene_n": len(ds_pairs),
        "mean_annotator_f1": float(np.mean(own_f1)),
        "reference_human_f1": 0.867,
    }


def card(html, key):
    match = re.search(
        rf'id="metric-{key}">\s*<div class="label">([^<]*)</div>\s*<div class="value[^"]*">([^<]*)<',
        html,
    )
    assert match, f"no card for {key}"
    return html_unescape(match.group(1)), html_unescape(match.group(2))


def test_every_card_on_the_results_page_shows_a_value_recomputed_here(client, owner, answered):
    expected = expected_cards(answered)
    client.force_login(owner)
    response = client.get(f"/projects/{answered.slug}/results/")
    html = response.content.decode()
    shown = response.context["results"].metrics
    assert {m.key for m in shown} == set(expected), "a new card needs its hand count here"
    for metric in shown:
        label, value = card(html, metric.key)
        want = expected[metric.key]
        assert value == (f"{want:.3f}" if isinstance(want, float) else str(want)), metric.key
        assert label == metric.label and "_" not in label  # a human label, not the key
    assert card(html, "dawid_skene_precision")[0] == "Dawid–Skene precision"
    assert "majority_f1" not in html.replace('id="metric-majority_f1"', "")
    assert "95% Wilson CI" in html and "Humor score (HS) of all posts" in html


def test_a_missing_value_shows_a_dash_and_says_why(client, owner, humor_project):
    registry.get("humor").import_items(humor_project, jsonl(POSTS))
    client.force_login(owner)
    html = client.get(f"/projects/{humor_project.slug}/results/").content.decode()
    assert card(html, "majority_f1")[1] == "—"
    assert card(html, "krippendorff_alpha")[1] == "—"
    assert "no answered post has a reaction label yet" in html
    assert "needs a post with two answers" in html


def test_the_results_page_is_closed_to_outsiders(client, outsider, answered):
    client.force_login(outsider)
    assert client.get(f"/projects/{answered.slug}/results/").status_code == 404


def test_the_export_has_one_choral_record_per_post_with_answers_and_aggregates(answered):
    records = {r["post_id"]: r for r in post_records(project=answered)}
    assert set(records) == {p["id"] for p in POSTS}
    h3 = records["h3"]
    item = Item.objects.get(external_id="h3")
    assert h3["text"] == "joke 3" and h3["haha"] == 65 and h3["like"] == 35
    assert (h3["t"], h3["h"], h3["hs"], h3["ns"]) == (
        item.payload["t"],
        item.payload["h"],
        item.payload["hs"],
        item.payload["ns"],
    )
    assert h3["ns_version"] == "ns_v_slides" and h3["s_version"].startswith("S-micro-")
    assert h3["reaction_label"] == "humorous" and h3["split"] in ("train", "test")
    assert sorted((a["annotator"], a["funny"], a["blocked"]) for a in h3["human_answers"]) == [
        ("prolific:alice", "yes", False),
        ("prolific:bob", "no", False),
        ("prolific:carol", "yes", False),
        ("prolific:mallory", "yes", True),
    ]
    assert (h3["human_yes"], h3["human_no"]) == (2, 1)
    assert h3["majority_label"] == "yes" and h3["majority_confidence"] == pytest.approx(2 / 3)
    assert h3["dawid_skene_label"] in ("yes", "no")
    assert list(h3) == EXPORT_COLUMNS


def test_the_export_reads_a_page_of_posts_in_a_fixed_number_of_queries(
    humor_project, django_assert_max_num_queries
):
    registry.get("humor").import_items(
        humor_project, jsonl([post(f"p{i}", f"post {i}", like=3, haha=i % 4) for i in range(60)])
    )
    with django_assert_max_num_queries(6):
        assert len(list(post_records(project=humor_project))) == 60


def test_the_results_page_fits_dawid_skene_once_until_a_new_answer(
    client, owner, answered, monkeypatch, django_capture_on_commit_callbacks
):
    fits = []

    fit = quality._dawid_skene

    def counting_dawid_skene(coded, **options):
        fits.append(coded.n)
        return fit(coded, **options)

    monkeypatch.setattr(quality, "_dawid_skene", counting_dawid_skene)
    sent = []
    monkeypatch.setattr(results_compute, "delay", sent.append)
    client.force_login(owner)
    url = f"/projects/{answered.slug}/results/"
    assert client.get(url).status_code == client.get(url).status_code == 200
    assert fits == [27]  # the second view showed the stored results

    erin = ParticipantFactory(project=answered, external_id="erin")
    assignment = engine.next_item(participant=erin).assignment
    engine.annotation_submit(assignment=assignment, value={"funny": "yes"}, client_token="erin-1")
    with django_capture_on_commit_callbacks(execute=True):
        assert "Computing updated results" in client.get(url).content.decode()
    assert sent == [answered.pk] and fits == [27]
    results_compute(answered.pk)  # the worker's task
    assert fits == [27, 28]
    html = client.get(url).content.decode()
    assert "Computing updated results" not in html and card(html, "answers")[1] == "28"


def annotation_reads(project):
    """The statements the worker's results + Quality computation sends that read answers."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.core.results_cache import results_refresh

    with CaptureQueriesContext(connection) as captured:
        results_refresh(project=project)
    return [q["sql"] for q in captured.captured_queries if '"core_annotation"' in q["sql"]]


def test_the_worker_reads_the_answers_in_one_query_whatever_the_number_of_posts(answered):
    few = annotation_reads(answered)
    # The answers with their values (alpha, both aggregations, per-annotator scores, flags,
    # the Quality tab) come from one statement.
    assert sum("::text" in sql or "AS text" in sql for sql in few) == 1
    more = [post(f"m{i}", f"more {i}", like=50, haha=40 + i) for i in range(12)]
    assert registry.get("humor").import_items(answered, jsonl(more)).ok
    for name in ("alice", "bob"):
        worker = Participant.objects.get(project=answered, external_id=name)
        while (assignment := engine.next_item(participant=worker).assignment) is not None:
            engine.annotation_submit(
                assignment=assignment,
                value={"funny": "yes"},
                client_token=f"{name}-{assignment.pk}",
            )
    assert Annotation.objects.filter(project=answered).count() > 1.5 * 27
    assert len(annotation_reads(answered)) == len(few)


def test_the_quality_tab_shows_the_stored_figures_and_says_when_newer_answers_wait(
    client, owner, answered, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.core.results_cache import results_refresh

    monkeypatch.setattr(results_compute, "delay", lambda pk: None)
    results_refresh(project=answered)
    computed = []
    monkeypatch.setattr(
        "apps.dashboard.selectors.quality_compute",
        lambda **kw: computed.append(kw) or pytest.fail("the page recomputed the figures"),
    )
    client.force_login(owner)
    url = f"/projects/{answered.slug}/quality/"
    html = client.get(url).content.decode()
    assert "Computing updated figures" not in html and "from 27 counted answers" in html
    alpha = re.search(r'id="alpha">([^<]+)<', html).group(1)
    rows, _ = from_database(answered)
    matrix = pd.DataFrame(rows, columns=["task", "worker", "label"]).pivot(
        index="worker", columns="task", values="label"
    )
    coded = matrix.apply(lambda col: col.map({"yes": 1.0, "no": 0.0})).to_numpy(dtype=float)
    expected = krippendorff.alpha(reliability_data=coded, level_of_measurement="nominal")
    assert float(alpha) == pytest.approx(expected, abs=5e-4)

    erin = ParticipantFactory(project=answered, external_id="erin")
    assignment = engine.next_item(participant=erin).assignment
    engine.annotation_submit(assignment=assignment, value={"funny": "yes"}, client_token="e-1")
    with django_capture_on_commit_callbacks(execute=True):
        html = client.get(url).content.decode()
    assert "Computing updated figures" in html and 'hx-trigger="load delay:2s"' in html
    assert computed == []
