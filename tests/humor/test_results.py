"""The results figures and the export, checked against values computed here from the database."""

from __future__ import annotations

from collections import Counter, defaultdict

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene

from apps.core import engine, registry
from apps.core.models import Annotation, Item, Participant
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
    humor_project.overlap = 4
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

    metrics = registry.get("humor").results(answered).metrics
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

    metrics = registry.get("humor").results(answered).metrics
    assert metrics["dawid_skene_f1"] == pytest.approx(prf(pairs)[2])
    assert metrics["krippendorff_alpha"] == pytest.approx(alpha)


def test_per_annotator_f1_leaves_out_blocked_participants(answered):
    rows, truth = from_database(answered)
    expected = {}
    for name in ("alice", "bob", "carol"):
        pairs = [(truth[i], label) for i, w, label in rows if w == name and i in truth]
        expected[f"prolific:{name}"] = round(prf(pairs)[2], 3)
    results = registry.get("humor").results(answered)
    table = next(t for t in results.tables if t.title.startswith("Per-annotator"))
    assert {row[0]: row[5] for row in table.rows} == expected
    assert results.metrics["mean_annotator_f1"] == pytest.approx(
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
    assert hs_figure.kind == "histogram"
    assert len(hs_figure.series["edges"]) == len(hs_figure.series["counts"]) + 1 == 21
    edges = hs_figure.series["edges"]
    by_hand = [
        sum(edges[b] <= v < edges[b + 1] or (b == 19 and v == edges[20]) for v in hs)
        for b in range(20)
    ]
    assert hs_figure.series["counts"] == by_hand
    ns_figure = figures["Non-humor score"]
    assert sum(ns_figure.series["counts"]) == len(ns) == 8
    assert ns_figure.series["edges"][0] == pytest.approx(min(ns))
    assert ns_figure.series["edges"][-1] == pytest.approx(max(ns))


def test_the_reference_f1_is_shown_with_the_note_that_its_protocol_is_unknown(answered):
    results = registry.get("humor").results(answered)
    comparison = results.tables[0]
    assert comparison.rows[-1][0].startswith("CHoRaL slides") and comparison.rows[-1][-1] == 0.867
    assert "protocol" in comparison.note and "unknown" in comparison.note


def test_the_dashboard_results_page_shows_the_figures(client, owner, answered):
    rows, truth = from_database(answered)
    votes = defaultdict(Counter)
    for item, _, label in rows:
        votes[item][label] += 1
    f1 = prf([(truth[i], c.most_common(1)[0][0]) for i, c in votes.items() if i in truth])[2]
    client.force_login(owner)
    html = client.get(f"/projects/{answered.slug}/results/").content.decode()
    assert "majority_f1" in html and f"{f1:.3f}" in html
    assert "0.867" in html and "Humor score (HS) of all posts" in html


def test_the_results_page_is_closed_to_outsiders(client, outsider, answered):
    client.force_login(outsider)
    assert client.get(f"/projects/{answered.slug}/results/").status_code == 404


def test_the_export_has_one_choral_record_per_post_with_answers_and_aggregates(answered):
    records = {r["post_id"]: r for r in registry.get("humor").export_records(answered)}
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
    assert list(h3) == registry.get("humor").export_columns


def test_the_export_reads_a_page_of_posts_in_a_fixed_number_of_queries(
    humor_project, django_assert_max_num_queries
):
    registry.get("humor").import_items(
        humor_project, jsonl([post(f"p{i}", f"post {i}", like=3, haha=i % 4) for i in range(60)])
    )
    with django_assert_max_num_queries(6):
        assert len(list(registry.get("humor").export_records(humor_project))) == 60
