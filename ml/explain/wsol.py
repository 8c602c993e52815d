"""WSOL localisation metrics as ``clovaai/wsolevaluation`` computes them: MaxBoxAcc, MaxBoxAccV2,
PxAP.

We follow ``evaluation.py`` of that repository (the version with ``multi_contour_eval`` and
``iou_threshold_list``; Choe et al., "Evaluating Weakly Supervised Object Localization Methods
Right", CVPR 2020) so that a number computed here agrees with theirs on the same maps:

* thresholds ``np.arange(0, 1, cam_curve_interval)``; the CLI default interval is 0.01 (the
  library function's is 0.001);
* a map becomes ``uint8(map * 255)``, binarised with ``cv2.threshold(..., int(tau * max),
  255, THRESH_BINARY)`` (strictly greater), contours from ``cv2.findContours(RETR_TREE,
  CHAIN_APPROX_SIMPLE)``, boxes from ``cv2.boundingRect`` as ``(x, y, x + w, y + h)`` with
  ``x1, y1`` clipped to ``W - 1, H - 1``; no contour gives the box ``[0, 0, 0, 0]``;
* IoU counts pixels inclusively: area = ``(x1 - x0 + 1) * (y1 - y0 + 1)``;
* V1 keeps the largest contour (``max(contours, key=cv2.contourArea)``) and is reported at
  IoU 0.5; V2 keeps every contour (the best box/GT pair counts) and averages MaxBoxAcc over
  IoU thresholds {0.3, 0.5, 0.7};
* PxAP pools histograms of scores at ground-truth positive and negative pixels over the whole
  set (bins ``[0, bw), ..., [1 - bw, 1), [1, 2), [2, 3)``), accumulates them from the top
  and sums ``precision * delta recall`` over bins with a prediction (``MaskEvaluator``).

Ground-truth boxes are ``(x0, y0, x1, y1)`` in the score map's pixel frame; use
:func:`rescale_box` (their ``resize_bbox``) when the map was resized from the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .saliency import IVR_PERCENTILE, NORMALISATIONS, normalise

Box = tuple[int, int, int, int]
CAM_CURVE_INTERVAL = 0.01  # evaluation.py's --cam_curve_interval default
IOU_THRESHOLD_V1 = 0.5
IOU_THRESHOLDS_V2 = (0.3, 0.5, 0.7)  # --iou_threshold_list default 30 50 70 (percent)


def cam_thresholds(cam_curve_interval: float = CAM_CURVE_INTERVAL) -> np.ndarray:
    """The CAM thresholds swept: ``0, interval, 2 interval, ...`` below 1."""
    if not 0.0 < cam_curve_interval < 1.0:
        raise ValueError(f"cam_curve_interval must be in (0, 1); got {cam_curve_interval}.")
    return np.arange(0, 1, cam_curve_interval)


def check_scoremap(scoremap: np.ndarray) -> np.ndarray:
    """A float64 2-D map in [0, 1] without NaN (``util.check_scoremap_validity``), or ValueError."""
    a = np.asarray(scoremap)
    if a.ndim != 2:
        raise ValueError(f"A score map must be a 2-D array; it is {a.ndim}-D.")
    a = a.astype(np.float64)
    if np.isnan(a).any():
        raise ValueError("A score map must not contain NaN; normalise it first.")
    if (a > 1).any() or (a < 0).any():
        raise ValueError(
            f"A score map must lie in [0, 1]; this one spans {a.min()}..{a.max()}. Normalise it first."
        )
    return a


def boxes_at_thresholds(
    scoremap: np.ndarray, thresholds: Sequence[float] | np.ndarray, *, multi_contour: bool
) -> list[np.ndarray]:
    """One ``(n, 4)`` int array of estimated boxes per threshold (``compute_bboxes_from_scoremaps``).

    ``multi_contour=False`` keeps the largest contour only (MaxBoxAcc); True keeps all (V2).
    """
    a = check_scoremap(scoremap)
    height, width = a.shape
    image = np.expand_dims((a * 255).astype(np.uint8), 2)
    peak = np.max(image)
    out = []
    for tau in thresholds:
        _, binary = cv2.threshold(image, int(tau * peak), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            out.append(np.zeros((1, 4), dtype=np.int64))
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        boxes = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        out.append(np.asarray(boxes, dtype=np.int64))
    return out


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoUs of x0y0x1y1 boxes with inclusive pixel areas
    (``calculate_multiple_iou``); a degenerate union gives 0."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(1, -1, 4)
    width = np.maximum(0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) + 1)
    height = np.maximum(0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) + 1)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - intersection
    degenerate = union <= 0
    ious = intersection / np.where(degenerate, 1.0, union)
    ious[degenerate] = 0.0
    return ious


def rescale_box(
    box: Sequence[int], image_size: tuple[int, int], target_size: tuple[int, int]
) -> Box:
    """A box from an image of ``(width, height)`` to ``target_size``, truncated to ints
    (``resize_bbox``)."""
    (w, h), (tw, th) = map(float, image_size), map(float, target_size)
    x0, y0, x1, y1 = map(float, box)
    return int(x0 * tw / w), int(y0 * th / h), int(x1 * tw / w), int(y1 * th / h)


@dataclass(frozen=True)
class BoxAccuracy:
    """BoxAcc over the threshold sweep for each IoU threshold δ, and its maxima."""

    thresholds: np.ndarray  # the CAM thresholds τ
    curves: dict[float, np.ndarray]  # δ -> BoxAcc(τ, δ) in percent, one per τ
    multi_contour: bool

    @property
    def max_box_acc(self) -> dict[float, float]:
        """δ -> ``max_τ BoxAcc(τ, δ)``."""
        return {d: float(c.max()) for d, c in self.curves.items()}

    @property
    def best_threshold(self) -> dict[float, float]:
        """δ -> the first τ reaching the maximum (the operating point for overlays)."""
        return {d: float(self.thresholds[int(np.argmax(c))]) for d, c in self.curves.items()}

    @property
    def mean(self) -> float:
        """The mean of MaxBoxAcc over the δ's (MaxBoxAccV2 when δ = 0.3, 0.5, 0.7)."""
        return float(np.mean(list(self.max_box_acc.values())))


def box_accuracy(
    scoremaps: Sequence[np.ndarray],
    gt_boxes: Sequence[Sequence[Sequence[int]]],
    *,
    multi_contour: bool,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS_V2,
    cam_curve_interval: float = CAM_CURVE_INTERVAL,
) -> BoxAccuracy:
    """BoxAcc(τ, δ) over a set (``BoxEvaluator.accumulate``/``compute``).

    ``gt_boxes[i]`` lists image i's ground-truth boxes; an image is correct at (τ, δ) when its
    best (estimated box, GT box) IoU is at least δ.
    """
    if len(scoremaps) != len(gt_boxes):
        raise ValueError(f"{len(scoremaps)} score maps but {len(gt_boxes)} box lists.")
    if not scoremaps:
        raise ValueError("No score maps to evaluate.")
    thresholds = cam_thresholds(cam_curve_interval)
    correct = {float(d): np.zeros(len(thresholds)) for d in iou_thresholds}
    for scoremap, boxes in zip(scoremaps, gt_boxes, strict=True):
        best = _best_iou_per_threshold(scoremap, boxes, thresholds, multi_contour)
        for d in correct:
            correct[d] += best >= d
    curves = {d: c * 100.0 / len(scoremaps) for d, c in correct.items()}
    return BoxAccuracy(thresholds, curves, multi_contour)


def max_box_acc(
    scoremaps: Sequence[np.ndarray],
    gt_boxes: Sequence[Sequence[Sequence[int]]],
    *,
    iou_threshold: float = IOU_THRESHOLD_V1,
    cam_curve_interval: float = CAM_CURVE_INTERVAL,
) -> float:
    """MaxBoxAcc (v1, percent): the largest contour's box, at one IoU threshold (0.5)."""
    result = box_accuracy(
        scoremaps,
        gt_boxes,
        multi_contour=False,
        iou_thresholds=(iou_threshold,),
        cam_curve_interval=cam_curve_interval,
    )
    return result.max_box_acc[float(iou_threshold)]


def max_box_acc_v2(
    scoremaps: Sequence[np.ndarray],
    gt_boxes: Sequence[Sequence[Sequence[int]]],
    *,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS_V2,
    cam_curve_interval: float = CAM_CURVE_INTERVAL,
) -> float:
    """MaxBoxAccV2 (percent): boxes of all contours, MaxBoxAcc averaged over δ ∈ {0.3, 0.5, 0.7}."""
    return box_accuracy(
        scoremaps,
        gt_boxes,
        multi_contour=True,
        iou_thresholds=iou_thresholds,
        cam_curve_interval=cam_curve_interval,
    ).mean


def pxap(
    scoremaps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    *,
    ignore_masks: Sequence[np.ndarray | None] | None = None,
    cam_curve_interval: float = CAM_CURVE_INTERVAL,
) -> float:
    """Pixel average precision (percent) of the maps against boolean foreground masks.

    ``ignore_masks[i]`` (optional) marks image i's ignore region; its pixels outside the
    foreground count as neither positive nor negative (``get_mask``). Masks must have the
    map's shape (resize them with nearest-neighbour first, as the official code does).
    """
    if len(scoremaps) != len(masks):
        raise ValueError(f"{len(scoremaps)} score maps but {len(masks)} masks.")
    thresholds = cam_thresholds(cam_curve_interval)
    edges = np.append(thresholds, [1.0, 2.0, 3.0])
    positive_hist = np.zeros(len(edges) - 1)
    negative_hist = np.zeros(len(edges) - 1)
    ignores = ignore_masks if ignore_masks is not None else [None] * len(masks)
    for scoremap, mask, ignore in zip(scoremaps, masks, ignores, strict=True):
        a = check_scoremap(scoremap)
        foreground = np.asarray(mask, dtype=bool)
        if foreground.shape != a.shape:
            raise ValueError(f"A mask of shape {foreground.shape} for a map of shape {a.shape}.")
        background = ~foreground
        if ignore is not None:
            background &= ~np.asarray(ignore, dtype=bool)
        positive_hist += np.histogram(a[foreground], bins=edges)[0]
        negative_hist += np.histogram(a[background], bins=edges)[0]
    return _average_precision(positive_hist, negative_hist)


def normalisation_table(
    cams: Sequence[np.ndarray],
    gt_boxes: Sequence[Sequence[Sequence[int]]] | None = None,
    masks: Sequence[np.ndarray] | None = None,
    *,
    percentile: float = IVR_PERCENTILE,
    cam_curve_interval: float = CAM_CURVE_INTERVAL,
) -> dict[str, dict[str, float]]:
    """``{method: {"max_box_acc", "max_box_acc_v2", "pxap"}}`` of raw CAMs under each normalisation.

    The paper's question on the researcher's own maps: which normalisation localises best?
    Box metrics appear when ``gt_boxes`` is given, PxAP when ``masks`` is.
    """
    table: dict[str, dict[str, float]] = {}
    for method in NORMALISATIONS:
        maps = [normalise(c, method, percentile=percentile) for c in cams]
        row: dict[str, float] = {}
        if gt_boxes is not None:
            row["max_box_acc"] = max_box_acc(maps, gt_boxes, cam_curve_interval=cam_curve_interval)
            row["max_box_acc_v2"] = max_box_acc_v2(
                maps, gt_boxes, cam_curve_interval=cam_curve_interval
            )
        if masks is not None:
            row["pxap"] = pxap(maps, masks, cam_curve_interval=cam_curve_interval)
        table[method] = row
    return table


def _best_iou_per_threshold(
    scoremap: np.ndarray, gt: Sequence[Sequence[int]], thresholds: np.ndarray, multi_contour: bool
) -> np.ndarray:
    """For each τ, the best IoU between any estimated box and any GT box of one image."""
    gt_array = np.asarray(gt, dtype=np.int64).reshape(-1, 4)
    if len(gt_array) == 0:
        raise ValueError("An image without a ground-truth box cannot be scored.")
    per_threshold = boxes_at_thresholds(scoremap, thresholds, multi_contour=multi_contour)
    counts = [len(b) for b in per_threshold]
    best_per_box = iou_matrix(np.concatenate(per_threshold), gt_array).max(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.maximum.reduceat(best_per_box, starts)


def _average_precision(positive_hist: np.ndarray, negative_hist: np.ndarray) -> float:
    """``MaskEvaluator.compute``: the area under the PR curve read from the top bin down."""
    tp = positive_hist[::-1].cumsum()
    fp = negative_hist[::-1].cumsum()
    if positive_hist.sum() <= 0:
        raise ValueError("No positive ground-truth pixel in the set: PxAP is undefined.")
    predicted = tp + fp
    if (predicted <= 0).all():
        raise ValueError("No pixel was predicted positive: PxAP is undefined.")
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / positive_hist.sum()
    area = (precision[1:] * np.diff(recall))[predicted[1:] > 0].sum()
    return float(area * 100)
