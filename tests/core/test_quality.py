from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from apps.core import quality


def frame(rows):
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def test_alpha_is_one_for_perfect_agreement():
    rows = [(t, w, "yes" if t % 2 else "no") for t in range(6) for w in range(3)]
    assert quality.krippendorff_alpha(frame(rows)) == pytest.approx(1.0)


def test_alpha_matches_the_krippendorff_package_on_a_known_matrix():
    # Krippendorff (2011) nominal example, with "." for missing values.
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    rows = [(t, w, v) for w, r in enumerate(data) for t, v in enumerate(r) if v is not None]
    assert quality.krippendorff_alpha(frame(rows)) == pytest.approx(0.743, abs=1e-3)


def test_alpha_is_none_without_overlap():
    assert quality.krippendorff_alpha(frame([(1, 1, "a"), (2, 2, "b")])) is None


def test_majority_vote_gives_the_label_and_its_share():
    rows = [(1, 1, "yes"), (1, 2, "yes"), (1, 3, "no"), (2, 1, "no")]
    result = quality.aggregate(frame(rows), "majority")
    assert result[1].label == "yes"
    assert result[1].confidence == pytest.approx(2 / 3)
    assert result[1].n == 3
    assert result[2].label == "no"


def test_a_one_one_majority_is_a_tie_whatever_order_the_answers_came_in():
    for rows in ([(1, 1, "yes"), (1, 2, "no")], [(1, 2, "no"), (1, 1, "yes")]):
        result = quality.aggregate(frame(rows), "majority")[1]
        assert (result.label, result.confidence, result.tie) == ("no", 0.5, True)
    clear = quality.aggregate(frame([(1, 1, "yes"), (1, 2, "yes"), (1, 3, "no")]), "majority")
    assert clear[1].tie is False


def test_dawid_skene_discounts_a_worker_who_always_disagrees():
    rows = []
    for t in range(20):
        truth = "yes" if t % 2 else "no"
        rows += [(t, 1, truth), (t, 2, truth), (t, 3, "no" if truth == "yes" else "yes")]
    result = quality.aggregate(frame(rows), "dawid_skene")
    assert all(result[t].label == ("yes" if t % 2 else "no") for t in range(20))


# --- the fast implementations against the libraries and the plain loops they replace ----------


def noisy_answers(seed, *, tasks=40, workers=7, labels=("a", "b", "c"), missing=0.3):
    """Answers of workers of different accuracy, some items left out by some workers."""
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.3, 0.95, workers)
    rows = []
    for t in range(tasks):
        truth = labels[rng.integers(len(labels))]
        for w in range(workers):
            if rng.random() < missing:
                continue
            label = truth if rng.random() < accuracy[w] else labels[rng.integers(len(labels))]
            rows.append((100 + t, 10 + w, label))
    return frame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_posteriors_are_crowd_kits(seed):
    from crowdkit.aggregation import DawidSkene

    answers = noisy_answers(seed)
    kit = DawidSkene(n_iter=100, tol=1e-5).fit(answers)
    ours = quality.aggregate(answers, "dawid_skene")
    probas = kit.probas_
    for task, row in probas.iterrows():
        assert ours[task].confidence == pytest.approx(row.max(), abs=1e-6)
        if (row >= row.max() - 1e-9).sum() == 1:
            assert ours[task].label == row.idxmax()


@pytest.mark.parametrize("seed", [3, 4])
def test_majority_labels_and_shares_are_crowd_kits_and_a_hand_count(seed):
    from crowdkit.aggregation import MajorityVote

    answers = noisy_answers(seed, labels=("x", "y"))
    kit = MajorityVote().fit(answers).probas_
    ours = quality.aggregate(answers, "majority")
    for task, votes in answers.groupby("task")["label"]:
        counts = Counter(votes)
        top = max(counts.values())
        assert ours[task].n == len(votes)
        assert ours[task].confidence == pytest.approx(top / len(votes))
        assert ours[task].confidence == pytest.approx(kit.loc[task].max())
        winners = sorted(label for label, n in counts.items() if n == top)
        assert ours[task].label == winners[0] and ours[task].tie == (len(winners) > 1)


@pytest.mark.parametrize("level", ["nominal", "interval", "ordinal"])
def test_alpha_from_value_counts_is_the_reliability_matrix_alpha(level):
    labels = (1, 2, 3, 4, 5) if level != "nominal" else ("a", "b", "c")
    answers = noisy_answers(5, tasks=30, workers=5, labels=labels, missing=0.4)
    matrix = np.full((5, 30), np.nan)
    domain = sorted(set(labels), key=str)
    for task, worker, label in answers.itertuples(index=False):
        matrix[worker - 10, task - 100] = label if level != "nominal" else domain.index(label)
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    assert quality.krippendorff_alpha(answers, level) == pytest.approx(expected, abs=1e-12)


def loop_annotator_agreement(answers):
    """Leave-one-out majority agreement the plain way: item by item, annotator by annotator."""
    by_task = defaultdict(list)
    for task, worker, label in answers.itertuples(index=False):
        by_task[task].append((worker, label))
    mine, theirs, total = defaultdict(list), defaultdict(list), Counter()
    for votes in by_task.values():
        for worker, label in votes:
            total[worker] += 1
            top = Counter(o for w, o in votes if w != worker).most_common(2)
            if top and not (len(top) == 2 and top[0][1] == top[1][1]):
                mine[worker].append(label)
                theirs[worker].append(top[0][0])
    return total, mine, theirs


def test_vectorised_annotator_agreement_is_the_loop_and_sklearns_kappa():
    answers = noisy_answers(6, workers=9)
    total, mine, theirs = loop_annotator_agreement(answers)
    ours = quality.annotator_agreement(answers)
    assert set(ours) == set(total)
    for worker, row in ours.items():
        assert row.answers == total[worker] and row.compared == len(mine[worker])
        pairs = list(zip(mine[worker], theirs[worker], strict=True))
        assert row.agreement == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
        assert row.kappa == pytest.approx(cohen_kappa_score(mine[worker], theirs[worker]))


def test_vectorised_scores_against_a_reference_are_compare_to_reference_per_annotator():
    answers = noisy_answers(7, tasks=60, workers=8, labels=("yes", "no"))
    rng = np.random.default_rng(7)
    reference = {task: ("yes" if rng.random() < 0.4 else "no") for task in range(100, 150)}
    ours = quality.annotators_against_reference(answers, reference, ["yes", "no"], positive="yes")
    for worker, own in answers.groupby("worker"):
        expected = quality.compare_to_reference(
            dict(zip(own["task"], own["label"], strict=True)),
            reference,
            ["yes", "no"],
            positive="yes",
        )
        for field in dataclasses.fields(expected):
            got, want = getattr(ours[worker], field.name), getattr(expected, field.name)
            if field.name.endswith("interval"):
                assert got == pytest.approx(want, abs=1e-12), field.name
            else:
                assert got == (pytest.approx(want) if isinstance(want, float) else want), field.name


@pytest.mark.parametrize("k,n", [(0, 5), (3, 10), (10, 10), (47, 200)])
def test_the_proportion_interval_is_scipys_wilson_interval(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = quality.proportion_interval(k, n)
    assert (low, high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert low <= k / n <= high


@pytest.mark.parametrize("positive", ["b", None])
def test_compare_to_reference_is_scikit_learns_counting(positive):
    rng = np.random.default_rng(8)
    # "z" is outside the labels: always wrong, and no column of the confusion matrix.
    ref = {k: str(rng.choice(["a", "b", "c"])) for k in range(300)}
    pred = {
        k: str(rng.choice(["a", "b", "c", "z"], p=[0.3, 0.3, 0.3, 0.1])) for k in range(50, 400)
    }
    ours = quality.compare_to_reference(pred, ref, ["a", "b", "c"], positive=positive)
    keys = [k for k in pred if k in ref]
    y_true, y_pred = [ref[k] for k in keys], [pred[k] for k in keys]
    assert ours.n == 250
    assert ours.confusion == confusion_matrix(y_true, y_pred, labels=["a", "b", "c"]).tolist()
    assert ours.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    chosen = [positive] if positive else ["a", "b", "c"]
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=chosen, average=None if positive else "macro", zero_division=0
    )
    assert (ours.precision, ours.recall, ours.f1) == pytest.approx(
        (np.mean(p), np.mean(r), np.mean(f))
    )
