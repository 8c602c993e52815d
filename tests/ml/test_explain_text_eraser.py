"""ERASER metrics against hand computations and a toy model whose answer is known."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest

from ml.explain_text import (
    aopc,
    auprc,
    faithfulness,
    iou_prf,
    memoised,
    pairwise_f1,
    plausibility,
    rationale_agreement,
    reliability_matrix,
    spans,
    split_words,
    token_prf,
)
from ml.explain_text.eraser import bin_size


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def haha_model(texts):
    """Bag-of-words logistic regression: only the word "haha" moves p(funny)."""
    rows = []
    for text in texts:
        count = sum(1 for w in split_words(text) if w.text.lower() == "haha")
        p = _sigmoid(-3 + 6 * count)
        rows.append([1 - p, p])
    return np.array(rows)


TEXT = "that was haha so funny"  # words 0..4, "haha" is 2
P_FULL = _sigmoid(3)
P_EMPTY = _sigmoid(-3)


def test_removing_haha_is_comprehensive_and_haha_alone_is_sufficient():
    result = faithfulness(haha_model, [TEXT], [{2}])
    assert result.comprehensiveness == pytest.approx(P_FULL - P_EMPTY)
    assert result.comprehensiveness > 0.9
    assert result.sufficiency == pytest.approx(0.0, abs=1e-12)
    assert result.p_full == [pytest.approx(P_FULL)]


def test_a_rationale_without_haha_is_neither_comprehensive_nor_sufficient():
    result = faithfulness(haha_model, [TEXT], [{0, 1, 3}])
    assert result.comprehensiveness == pytest.approx(0.0, abs=1e-12)
    assert result.sufficiency == pytest.approx(P_FULL - P_EMPTY)


def test_the_explained_class_defaults_to_the_predicted_one():
    # "so dull" is predicted not funny (p(0) = P_FULL); removing a word leaves that unchanged.
    result = faithfulness(haha_model, ["so dull", TEXT], [{0}, {2}])
    assert result.p_full == [pytest.approx(P_FULL), pytest.approx(P_FULL)]
    assert result.per_item_comprehensiveness == [pytest.approx(0.0), pytest.approx(0.905, abs=1e-3)]
    forced = faithfulness(haha_model, ["so dull"], [{0}], target=1)
    assert forced.p_full == [pytest.approx(P_EMPTY)]


def test_aopc_averages_comprehensiveness_over_the_top_k_percent_bins():
    text = "one two three four haha six seven eight nine ten"  # 10 words
    good = [0.1, 0.2, 0.3, 0.4, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # haha ranked first
    bad = [-s for s in good]  # haha ranked last
    assert [bin_size(f, 10) for f in (0.01, 0.05, 0.1, 0.2, 0.5)] == [1, 1, 1, 2, 5]
    high = aopc(haha_model, [text], [good])
    assert high.per_bin_comprehensiveness == [pytest.approx(P_FULL - P_EMPTY)] * 5
    assert high.comprehensiveness == pytest.approx(P_FULL - P_EMPTY)
    assert high.sufficiency == pytest.approx(0.0, abs=1e-12)
    low = aopc(haha_model, [text], [bad])
    assert low.comprehensiveness == pytest.approx(0.0, abs=1e-12)
    assert low.sufficiency == pytest.approx(P_FULL - P_EMPTY)
    with pytest.raises(ValueError, match="3 scores for 10 words"):
        aopc(haha_model, [text], [[1.0, 2.0, 3.0]])


def test_a_predict_proba_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(n, classes\) array"):
        faithfulness(lambda texts: [0.5] * len(texts), [TEXT], [{2}])


def test_token_f1_against_a_hand_count():
    # human {1,2,3}, predicted {2,3,4,5}: 2 hits, P = 2/4, R = 2/3, F1 = 4/7.
    result = token_prf({1, 2, 3}, {2, 3, 4, 5})
    assert (result.precision, result.recall) == (0.5, pytest.approx(2 / 3))
    assert result.f1 == pytest.approx(4 / 7)
    assert token_prf(set(), {1}).f1 == 0.0


def test_iou_f1_matches_spans_by_overlap_not_tokens():
    assert spans({7, 1, 2, 3, 8}) == [(1, 4), (7, 9)]
    # Spans (2,4)~(1,4): IOU 2/3; (7,9)~(7,8): IOU 1/2 — both match at 0.5.
    result = iou_prf({1, 2, 3, 7}, {2, 3, 7, 8})
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert token_prf({1, 2, 3, 7}, {2, 3, 7, 8}).f1 == pytest.approx(0.75)
    # (2,6)~(1,4): intersection 2, union 5, IOU 0.4 — no match.
    assert iou_prf({1, 2, 3}, {2, 3, 4, 5}).f1 == 0.0
    # Two halves of one human span each match it; recall stays at most 1.
    halves = iou_prf({0, 1, 2, 3}, {0, 1, 3}, threshold=0.25)
    assert (halves.precision, halves.recall) == (1.0, 1.0)


def test_auprc_is_average_precision_by_hand():
    # Ranked: w0(+), w1(−), w3(+), w4, w2 → AP = (1/1 + 2/3) / 2.
    assert auprc({0, 3}, [0.9, 0.8, 0.1, 0.7, 0.2]) == pytest.approx(5 / 6)
    assert math.isnan(auprc(set(), [0.1, 0.2])) and math.isnan(auprc({0, 1}, [0.1, 0.2]))


def test_plausibility_uses_the_mean_human_length_as_k_and_erasers_averages():
    humans = [{0, 1}, {3}, {0, 1, 2}]  # mean length 2 → k = 2
    scores = [
        [0.9, 0.1, 0.8, 0.0],  # top-2 {0, 2}: F1 1/2
        [0.0, 0.1, 0.2, 0.9],  # top-2 {3, 2}: F1 2/3
        [0.5, 0.4, 0.3, 0.9],  # top-2 {3, 0}: F1 2/5
    ]
    result = plausibility(humans, scores)
    assert result.k == 2 and result.n == 3
    assert result.per_item_token_f1 == [
        pytest.approx(0.5),
        pytest.approx(2 / 3),
        pytest.approx(0.4),
    ]
    assert result.token_f1 == pytest.approx((0.5 + 2 / 3 + 0.4) / 3)
    # IOU per item: (0,1)~(0,2) is 1/2, a match, (2,3) none → P 1/2, R 1; (2,4)~(3,4) is 1/2
    # → P 1, R 1; (0,1)~(0,3) is 1/3 and (3,4) touches nothing → P 0, R 0.
    # ERASER's dataset IOU-F1 is the F1 of the mean P (1/2) and mean R (2/3): 4/7.
    assert result.iou_f1 == pytest.approx(4 / 7)
    # AP per item from the rankings: w0+ w2− w1+ | w3+ | w3− w0+ w1+ w2+.
    expected_ap = [(1 + 2 / 3) / 2, 1.0, (1 / 2 + 2 / 3 + 3 / 4) / 3]
    assert result.auprc == pytest.approx(sum(expected_ap) / 3)
    assert plausibility(humans, scores, k=1).k == 1


def test_pairwise_f1_is_symmetric_and_counts_two_empty_rationales_as_agreement():
    assert pairwise_f1([{0, 1}, {0}]) == pytest.approx(2 / 3)
    assert pairwise_f1([{0}, {0, 1}]) == pytest.approx(2 / 3)
    assert pairwise_f1([set(), set()]) == 1.0
    assert pairwise_f1([{0, 1}, {0}, {5}]) == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert math.isnan(pairwise_f1([{0}]))


def test_alpha_equals_krippendorff_on_the_hand_made_matrix():
    items = [{"a": {0, 1}, "b": {0}}, {"a": {2}, "c": {1, 2}}]
    nan = np.nan
    by_hand = np.array(
        [
            [1, 1, 0, 0, 0, 1, 0],  # a
            [1, 0, 0, nan, nan, nan, nan],  # b did only the first post
            [nan, nan, nan, 0, 1, 1, 0],  # c did only the second
        ]
    )
    annotators, matrix = reliability_matrix(items, [3, 4])
    assert annotators == ["a", "b", "c"]
    np.testing.assert_array_equal(matrix, by_hand)
    result = rationale_agreement(items, [3, 4])
    expected = krippendorff.alpha(reliability_data=by_hand, level_of_measurement="nominal")
    assert result.alpha == pytest.approx(expected)
    assert result.mean_pairwise_f1 == pytest.approx(2 / 3)
    assert (result.n_items, result.n_annotators) == (2, 3)


def test_identical_rationales_agree_perfectly_and_a_single_value_leaves_alpha_undefined():
    same = rationale_agreement([{"a": {1}, "b": {1}}, {"a": {0, 2}, "b": {0, 2}}], [3, 3])
    assert same.alpha == pytest.approx(1.0) and same.mean_pairwise_f1 == 1.0
    blank = rationale_agreement([{"a": set(), "b": set()}], [4])
    assert math.isnan(blank.alpha) and blank.mean_pairwise_f1 == 1.0


def test_memoised_asks_the_model_once_per_distinct_text_and_keeps_the_answers():
    asked: list[str] = []

    def counting(texts):
        asked.extend(texts)
        return haha_model(texts)

    cached = memoised(counting)
    plain = faithfulness(haha_model, [TEXT, TEXT], [{2}, {2}])
    again = faithfulness(cached, [TEXT, TEXT], [{2}, {2}])
    assert again == plain
    assert sorted(asked) == sorted({TEXT, "that was  so funny", "haha"})
    assert cached([]).shape == (0, 2)
