"""The automatic localisation scores, split so the set's numbers can be recomputed from items.

At import each image gets, per normalisation, its best IoU with a ground-truth box at every
CAM threshold (largest contour and all contours) and its PxAP histograms; the item payload
keeps them (``schemas.py``). MaxBoxAcc, MaxBoxAccV2 and PxAP of a set are then sums over its
images, exactly as ``clovaai/wsolevaluation``'s evaluators accumulate them, so the results
page needs no heatmap file and agrees with ``ml.explain.wsol.normalisation_table``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ml.explain import wsol

# The averaging of PR bins is wsolevaluation's MaskEvaluator.compute, kept in one place.
from ml.explain.wsol import _average_precision

INTERVAL = wsol.CAM_CURVE_INTERVAL


def _best_ious(
    scoremap: np.ndarray, boxes: Sequence[Sequence[int]], thresholds: np.ndarray, multi: bool
) -> list[float]:
    gt = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    per_threshold = wsol.boxes_at_thresholds(scoremap, thresholds, multi_contour=multi)
    return [float(wsol.iou_matrix(b, gt).max()) for b in per_threshold]


def image_scores(
    scoremap: np.ndarray,
    boxes: Sequence[Sequence[int]],
    mask: np.ndarray | None = None,
    ignore: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """One normalised map's per-threshold scores (``boxes`` and ``mask`` in the map's frame)."""
    thresholds = wsol.cam_thresholds(INTERVAL)
    scores: dict[str, list[float]] = {
        "iou_v1": _best_ious(scoremap, boxes, thresholds, multi=False),
        "iou_v2": _best_ious(scoremap, boxes, thresholds, multi=True),
    }
    if mask is not None:
        a = wsol.check_scoremap(scoremap)
        edges = np.append(thresholds, [1.0, 2.0, 3.0])
        foreground = np.asarray(mask, dtype=bool)
        background = ~foreground if ignore is None else ~foreground & ~np.asarray(ignore, bool)
        scores["pos"] = np.histogram(a[foreground], bins=edges)[0].astype(float).tolist()
        scores["neg"] = np.histogram(a[background], bins=edges)[0].astype(float).tolist()
    return scores


def set_scores(per_image: Sequence[dict[str, list[float]]]) -> dict[str, float | None]:
    """MaxBoxAcc (δ = 0.5), MaxBoxAccV2 (mean over δ ∈ {0.3, 0.5, 0.7}) and PxAP, in percent,
    of a set of images' :func:`image_scores` under one normalisation (PxAP None without masks)."""
    if not per_image:
        return {"max_box_acc": None, "max_box_acc_v2": None, "pxap": None}
    v1 = np.array([s["iou_v1"] for s in per_image])
    v2 = np.array([s["iou_v2"] for s in per_image])
    max_v1 = float((v1 >= wsol.IOU_THRESHOLD_V1).mean(axis=0).max() * 100)
    max_v2 = float(np.mean([(v2 >= d).mean(axis=0).max() * 100 for d in wsol.IOU_THRESHOLDS_V2]))
    pxap = None
    if all("pos" in s for s in per_image):
        positive = np.sum([s["pos"] for s in per_image], axis=0)
        negative = np.sum([s["neg"] for s in per_image], axis=0)
        pxap = _average_precision(positive, negative) if positive.sum() > 0 else None
    return {"max_box_acc": max_v1, "max_box_acc_v2": max_v2, "pxap": pxap}


def box_iou(box: Sequence[int], boxes: Sequence[Sequence[int]]) -> float:
    """The best IoU of ``box`` with any ground-truth box (inclusive pixels, as WSOL counts)."""
    return float(wsol.iou_matrix(np.asarray([box]), np.asarray(boxes)).max())
