"""The four CAM normalisations against values worked out by hand (PROTOCOLS §5a)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.explain.saliency import (
    IVR_PERCENTILE,
    NORMALISATIONS,
    center_gaussian,
    ivr,
    max_norm,
    minmax,
    normalise,
    normalise_all,
    pas,
)

# 12 pixels, min -2, max 10, all values distinct.
A = np.array([[-2, -1, 0, 1], [2, 3, 4, 5], [6, 7, 8, 10]], dtype=np.float64)


def test_minmax_shifts_the_minimum_to_zero_and_scales_the_range_to_one():
    expected = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 12]]) / 12
    np.testing.assert_allclose(minmax(A), expected)


def test_max_clips_negatives_and_divides_by_the_peak():
    expected = np.array([[0, 0, 0, 1], [2, 3, 4, 5], [6, 7, 8, 10]]) / 10
    np.testing.assert_allclose(max_norm(A), expected)


def test_pas_divides_by_the_value_at_sorted_index_int_0_9_n_and_saturates_at_one():
    # B = A + 2 sorted is 0..10, 12; int(0.9 * 12) = 10 picks 10.
    expected = np.array([[0, 0.1, 0.2, 0.3], [0.4, 0.5, 0.6, 0.7], [0.8, 0.9, 1.0, 1.0]])
    np.testing.assert_allclose(pas(A), expected)


def test_ivr_removes_values_below_the_default_045_sorted_quantile():
    # int(0.45 * 12) = 5; sorted A is -2, -1, 0, 1, 2, 3, ... so m = 3.
    expected = np.array([[0, 0, 0, 0], [0, 0, 1, 2], [3, 4, 5, 7]]) / 7
    np.testing.assert_allclose(ivr(A), expected)
    assert IVR_PERCENTILE == 0.45


def test_ivr_takes_its_percentile_as_a_parameter():
    # int(0.25 * 12) = 3 picks 1.
    expected = np.array([[0, 0, 0, 0], [1, 2, 3, 4], [5, 6, 7, 9]]) / 9
    np.testing.assert_allclose(ivr(A, 0.25), expected)
    np.testing.assert_allclose(normalise(A, "ivr", percentile=0.25), expected)


def _independent(a: np.ndarray, method: str, p: float) -> np.ndarray:
    """The formulas again, with np.partition for the sorted-index value."""
    flat = a.ravel()

    def kth(values, q):
        k = math.floor(q * values.size)
        return np.partition(values, k)[k]

    if method == "minmax":
        return (a - flat.min()) / (flat.max() - flat.min())
    if method == "max":
        return np.clip(a, 0, None) / np.clip(a, 0, None).max()
    if method == "pas":
        b = a - flat.min()
        return np.minimum(1, b / kth(b.ravel(), 0.9))
    m = kth(flat, p)
    return np.clip(a - m, 0, None) / np.clip(a - m, 0, None).max()


@pytest.mark.parametrize("method", NORMALISATIONS)
def test_each_normalisation_matches_an_independent_computation_on_random_maps(method):
    rng = np.random.default_rng(3)
    for shape in [(7, 9), (16, 16), (5, 31)]:
        a = rng.normal(size=shape) * 3 + rng.normal()
        out = normalise(a, method, percentile=0.6)
        np.testing.assert_allclose(out, _independent(a, method, 0.6), atol=1e-12)
        assert out.min() >= 0 and out.max() == pytest.approx(1.0)


@pytest.mark.parametrize("method", NORMALISATIONS)
@pytest.mark.parametrize(
    "bad",
    [
        np.full((4, 5), 0.7),
        np.where(np.eye(4, 5) > 0, np.nan, 1.0),
        np.where(np.eye(4, 5) > 0, np.inf, 1.0),
    ],
    ids=["constant", "nan", "inf"],
)
def test_constant_nan_and_infinite_maps_become_zeros(method, bad):
    out = normalise(bad, method)
    assert out.shape == bad.shape
    assert not out.any()


def test_degenerate_divisors_give_zeros_instead_of_nan():
    all_negative = -np.arange(1.0, 13.0).reshape(3, 4)
    assert not max_norm(all_negative).any()
    # 11 of 12 pixels at the minimum: the 90th-percentile value of B is 0.
    spike = np.zeros((3, 4))
    spike[1, 2] = 5.0
    assert not pas(spike).any()
    # The 0.45 quantile equals the maximum when most pixels share it.
    plateau = np.ones((3, 4))
    plateau[0, 0] = 0.0
    assert not ivr(plateau).any()


def test_the_input_map_is_left_untouched():
    a = A.copy()
    normalise_all(a)
    np.testing.assert_array_equal(a, A)


def test_normalise_all_returns_every_method():
    maps = normalise_all(A, percentile=0.25)
    assert list(maps) == list(NORMALISATIONS)
    np.testing.assert_allclose(maps["ivr"], ivr(A, 0.25))


def test_bad_arguments_are_refused_with_a_message():
    with pytest.raises(ValueError, match="Unknown normalisation"):
        normalise(A, "zscore")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ivr(A, 1.0)
    with pytest.raises(ValueError, match="2-D"):
        minmax(np.zeros((2, 2, 3)))


def test_the_center_baseline_peaks_at_one_in_the_middle_and_is_symmetric():
    g = center_gaussian(9, 9)
    assert g[4, 4] == 1.0
    np.testing.assert_allclose(g, g[::-1, ::-1])
    sigma = 0.25 * 9
    assert g[4, 0] == pytest.approx(math.exp(-(4**2) / (2 * sigma**2)))
