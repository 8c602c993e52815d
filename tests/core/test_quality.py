from __future__ import annotations

import pandas as pd
import pytest

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
