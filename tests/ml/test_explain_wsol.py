"""MaxBoxAcc, MaxBoxAccV2 and PxAP on hand-made maps, with IoUs and APs worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from ml.explain.data import mask_box
from ml.explain.saliency import normalise
from ml.explain.wsol import (
    box_accuracy,
    boxes_at_thresholds,
    cam_thresholds,
    check_scoremap,
    iou_matrix,
    max_box_acc,
    max_box_acc_v2,
    normalisation_table,
    pxap,
    rescale_box,
)


def inclusive_iou(a, b) -> float:
    """IoU counting pixels inclusively, written out longhand."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def two_blobs() -> np.ndarray:
    """A big bright blob (rows 2..9, cols 1..8) and a small dimmer one (rows 12..15, cols 13..16)."""
    m = np.zeros((20, 20))
    m[2:10, 1:9] = 1.0
    m[12:16, 13:17] = 0.8
    return m


# boundingRect gives (x, y, x + w, y + h): one past the last pixel.
LEFT_BOX = (1, 2, 9, 10)
RIGHT_BOX = (13, 12, 17, 16)


def one_blob() -> np.ndarray:
    m = np.zeros((20, 20))
    m[4:12, 4:12] = 1.0  # estimated box (4, 4, 12, 12)
    return m


ONE_BLOB_GT = (4, 4, 12, 17)  # IoU = 81 / 126 = 0.643: right at 0.3 and 0.5, wrong at 0.7


def test_boxes_follow_bounding_rect_and_v1_keeps_only_the_largest_contour():
    low, high = 0.5, 0.9  # int(0.5 * 255) = 127 < 204 (the dim blob); int(0.9 * 255) = 229
    v2 = boxes_at_thresholds(two_blobs(), [low, high], multi_contour=True)
    assert sorted(map(tuple, v2[0].tolist())) == sorted([LEFT_BOX, RIGHT_BOX])
    assert v2[1].tolist() == [list(LEFT_BOX)]
    v1 = boxes_at_thresholds(two_blobs(), [low, high], multi_contour=False)
    assert v1[0].tolist() == [list(LEFT_BOX)] and v1[1].tolist() == [list(LEFT_BOX)]


def test_a_map_without_foreground_gives_the_empty_box_and_edges_are_clipped():
    assert boxes_at_thresholds(np.zeros((6, 6)), [0.0], multi_contour=True)[0].tolist() == [
        [0, 0, 0, 0]
    ]
    m = np.zeros((6, 6))
    m[1:6, 3:6] = 1.0  # touches the right and bottom edges: x + w = 6 is clipped to 5
    assert boxes_at_thresholds(m, [0.0], multi_contour=False)[0].tolist() == [[3, 1, 5, 5]]


def test_iou_matrix_counts_pixels_inclusively():
    a = np.array([[0, 0, 9, 9], [2, 2, 4, 4]])
    b = np.array([[5, 5, 14, 14], [0, 0, 9, 9], [20, 20, 21, 21]])
    expected = [[inclusive_iou(x, y) for y in b] for x in a]
    np.testing.assert_allclose(iou_matrix(a, b), expected)
    assert iou_matrix(a, b)[0, 0] == pytest.approx(25 / 175)
    assert iou_matrix(a, b)[1, 1] == pytest.approx(9 / 100)


def test_v1_misses_the_small_object_that_v2_finds_among_all_contours():
    maps = [two_blobs(), one_blob()]
    gt = [[RIGHT_BOX], [ONE_BLOB_GT]]
    assert inclusive_iou(LEFT_BOX, RIGHT_BOX) == 0.0
    assert inclusive_iou((4, 4, 12, 12), ONE_BLOB_GT) == pytest.approx(81 / 126)
    # V1: image 1's box is the big blob (IoU 0), image 2 is right at δ = 0.3 and 0.5.
    assert max_box_acc(maps, gt) == 50.0
    v1 = box_accuracy(maps, gt, multi_contour=False)
    assert v1.max_box_acc == {0.3: 50.0, 0.5: 50.0, 0.7: 0.0}
    # V2: image 1 is right at every δ through its dim blob; image 2 fails δ = 0.7.
    v2 = box_accuracy(maps, gt, multi_contour=True)
    assert v2.max_box_acc == {0.3: 100.0, 0.5: 100.0, 0.7: 50.0}
    assert max_box_acc_v2(maps, gt) == pytest.approx((100 + 100 + 50) / 3)


def test_the_curve_drops_once_the_threshold_removes_the_dim_blob():
    v2 = box_accuracy([two_blobs(), one_blob()], [[RIGHT_BOX], [ONE_BLOB_GT]], multi_contour=True)
    curve = v2.curves[0.5]
    taus = v2.thresholds
    assert len(taus) == 100 and taus[0] == 0.0 and taus[-1] == pytest.approx(0.99)
    # The dim blob (uint8 204) survives while int(τ · 255) < 204, i.e. up to τ = 0.79.
    survives = np.array([int(t * 255) < 204 for t in taus])
    np.testing.assert_array_equal(curve, np.where(survives, 100.0, 50.0))
    assert v2.best_threshold[0.5] == 0.0


def test_a_ground_truth_matching_any_of_several_boxes_counts():
    m = one_blob()
    assert max_box_acc([m], [[(0, 0, 1, 1), (4, 4, 12, 12)]]) == 100.0


def test_a_map_equal_to_the_mask_scores_iou_one_against_the_mask_box():
    mask = np.zeros((24, 30), dtype=bool)
    mask[5:17, 9:20] = True
    result = box_accuracy([mask.astype(float)], [[mask_box(mask)]], multi_contour=False)
    assert result.max_box_acc[0.7] == 100.0
    box = boxes_at_thresholds(mask.astype(float), [0.5], multi_contour=False)[0][0]
    assert inclusive_iou(box, mask_box(mask)) == 1.0


def test_rescale_box_truncates_like_resize_bbox():
    # 10·224/100 = 22.4, 20·224/200 = 22.4, 30·2.24 = 67.2, 40·1.12 = 44.8
    assert rescale_box((10, 20, 30, 40), (100, 200), (224, 224)) == (22, 22, 67, 44)


def test_the_threshold_sweep_uses_the_given_interval():
    assert len(cam_thresholds(0.001)) == 1000
    with pytest.raises(ValueError):
        cam_thresholds(0.0)


def test_maps_outside_zero_one_or_with_nan_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_scoremap(np.array([[0.0, 1.5]]))
    with pytest.raises(ValueError, match="NaN"):
        check_scoremap(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        check_scoremap(np.zeros(4))
    with pytest.raises(ValueError, match="box lists"):
        max_box_acc([one_blob()], [])


# Scores at bin centres, so the binned AP equals the exact one.
SCORES = np.array([[1.0, 0.905, 0.605, 0.305], [0.805, 0.505, 0.205, 0.105]])
MASK = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], dtype=bool)


def test_pxap_on_a_known_mask_equals_the_average_precision_by_hand():
    # Ranked: P P P N N P N N; precision at the positives 1, 1, 1, 4/6; AP = mean of those.
    expected = 100 * (1 + 1 + 1 + 4 / 6) / 4
    assert pxap([SCORES], [MASK]) == pytest.approx(expected)
    assert pxap([SCORES], [MASK]) == pytest.approx(
        100 * average_precision_score(MASK.ravel(), SCORES.ravel())
    )


def test_pxap_pools_pixels_over_images_and_agrees_with_sklearn():
    rng = np.random.default_rng(7)
    maps, masks = [], []
    for _ in range(3):
        bins = rng.integers(0, 100, size=(12, 12))
        maps.append((bins + 0.5) / 100)  # bin centres, 0.005 .. 0.995
        masks.append(rng.random((12, 12)) < maps[-1])
    expected = average_precision_score(
        np.concatenate([m.ravel() for m in masks]), np.concatenate([s.ravel() for s in maps])
    )
    assert pxap(maps, masks) == pytest.approx(100 * expected)


def test_pxap_leaves_ignored_background_pixels_out():
    ignore = np.zeros_like(MASK)
    ignore[0, 2] = True  # the negative at 0.605
    # Ranked without it: P P P N P N N -> precision at positives 1, 1, 1, 4/5.
    assert pxap([SCORES], [MASK], ignore_masks=[ignore]) == pytest.approx(100 * (3 + 4 / 5) / 4)


def test_pxap_without_any_positive_pixel_is_refused():
    with pytest.raises(ValueError, match="No positive"):
        pxap([SCORES], [np.zeros_like(MASK)])


def test_the_normalisation_table_scores_each_method_with_each_metric():
    rng = np.random.default_rng(0)
    cams = []
    for m in (two_blobs(), one_blob()):
        cams.append(m * 4 - 1 + rng.normal(0, 0.05, m.shape))  # raw CAMs with negatives
    gt = [[RIGHT_BOX], [ONE_BLOB_GT]]
    masks = [two_blobs() > 0, one_blob() > 0]
    table = normalisation_table(cams, gt, masks)
    assert set(table) == {"minmax", "max", "pas", "ivr"}
    for method, row in table.items():
        maps = [normalise(c, method) for c in cams]
        assert row["max_box_acc"] == max_box_acc(maps, gt)
        assert row["max_box_acc_v2"] == max_box_acc_v2(maps, gt)
        assert row["pxap"] == pxap(maps, masks)
    assert "pxap" not in normalisation_table(cams, gt)["ivr"]
