"""The four CAM normalisations of "Normalization Matters in WSOL" (Kim et al., ICCV 2021).

Each takes a raw class activation map ``A`` (already resized to the evaluation size) and
returns a float64 map in [0, 1], as the box and mask metrics of :mod:`ml.explain.wsol`
require. We follow ``GenDisc/IVR/inference.py::CAMComputer.normalize_scoremap`` (the paper's
code) line by line, with one deliberate difference: where that code would divide by zero and
emit NaN/inf (a map that is NaN or non-finite anywhere, a constant map, a ``max`` map with no
positive value, a PaS map whose 90th-percentile value equals its minimum, an IVR map whose
p-quantile is its maximum) we return all zeros, the same answer it gives a constant map. A
zero map yields no box at any threshold, so it scores as "no localisation", never as a
silent NaN in a results table.

"Sorted index" below means: flatten, sort ascending, take the element at ``int(q * N)``
(N = number of pixels), exactly as the official code does, not ``numpy.percentile``'s
interpolation.
"""

from __future__ import annotations

import numpy as np

NORMALISATIONS = ("minmax", "max", "pas", "ivr")
LABELS = {"minmax": "MinMax", "max": "Max", "pas": "PaS", "ivr": "IVR"}
IVR_PERCENTILE = 0.45  # --percentile default of GenDisc/IVR/config.py
PAS_PERCENTILE = 0.9  # fixed in the official code


def minmax(cam: np.ndarray) -> np.ndarray:
    """``A' = (A - min A) / max(A - min A)``: the original wsolevaluation normalisation."""
    a = _prepared(cam)
    if a is None:
        return np.zeros(np.shape(cam))
    shifted = a - a.min()
    return shifted / shifted.max()


def max_norm(cam: np.ndarray) -> np.ndarray:
    """``A' = max(0, A) / max(max(0, A))``: negative evidence clipped, the peak kept at 1."""
    a = _prepared(cam)
    if a is None:
        return np.zeros(np.shape(cam))
    positive = np.maximum(0.0, a)
    return _divided(positive, positive.max())


def pas(cam: np.ndarray) -> np.ndarray:
    """Percentile as Standard: ``B = A - min A``; ``A' = min(1, B / B_(int(0.9 N)))``.

    The divisor is the value at sorted index ``int(0.9 N)`` (the 90th percentile of B), so the
    top tenth of the pixels saturate at 1.
    """
    a = _prepared(cam)
    if a is None:
        return np.zeros(np.shape(cam))
    shifted = a - a.min()
    standard = _sorted_value(shifted, PAS_PERCENTILE)
    scaled = _divided(shifted, standard)
    return np.minimum(1.0, scaled)


def ivr(cam: np.ndarray, percentile: float = IVR_PERCENTILE) -> np.ndarray:
    """Inferior Value Removal: ``m = A_(int(p N))``; ``A' = max(0, A - m) / max(max(0, A - m))``.

    Pixels below the ``p``-quantile (by sorted index) are set to 0 instead of the minimum
    setting the zero point, so a map's broad low background no longer stretches the scale.
    """
    _check_percentile(percentile)
    a = _prepared(cam)
    if a is None:
        return np.zeros(np.shape(cam))
    removed = np.maximum(0.0, a - _sorted_value(a, percentile))
    return _divided(removed, removed.max())


def normalise(cam: np.ndarray, method: str, *, percentile: float = IVR_PERCENTILE) -> np.ndarray:
    """``cam`` under the named normalisation (one of :data:`NORMALISATIONS`)."""
    if method == "minmax":
        return minmax(cam)
    if method == "max":
        return max_norm(cam)
    if method == "pas":
        return pas(cam)
    if method == "ivr":
        return ivr(cam, percentile)
    raise ValueError(f"Unknown normalisation {method!r}; expected one of {NORMALISATIONS}.")


def normalise_all(cam: np.ndarray, *, percentile: float = IVR_PERCENTILE) -> dict[str, np.ndarray]:
    """``{method: normalised map}`` for every method of :data:`NORMALISATIONS`."""
    return {m: normalise(cam, m, percentile=percentile) for m in NORMALISATIONS}


def center_gaussian(height: int, width: int, sigma_fraction: float = 0.25) -> np.ndarray:
    """The "center baseline" of Choe et al. (CVPR 2020): an isotropic Gaussian at the centre.

    Its peak is 1 at the image centre; ``sigma = sigma_fraction * min(height, width)``. The
    paper does not state its sigma; 0.25 is our choice. It is the floor a CAM must beat to
    show that it uses the image at all.
    """
    ys = np.arange(height) - (height - 1) / 2.0
    xs = np.arange(width) - (width - 1) / 2.0
    sigma = sigma_fraction * min(height, width)
    return np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2.0 * sigma**2))


def _prepared(cam: np.ndarray) -> np.ndarray | None:
    """A float64 copy of a 2-D map, or None when the official code returns zeros (NaN or
    constant) or would produce NaN (any infinite value)."""
    a = np.array(cam, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"A CAM must be a 2-D array; this one has shape {a.shape}.")
    if a.size == 0 or not np.isfinite(a).all() or a.min() == a.max():
        return None
    return a


def _sorted_value(a: np.ndarray, q: float) -> float:
    """The element at sorted index ``int(q * N)``, as ``cam_copy[int(cam_copy.size * q)]``."""
    flat = np.sort(a, axis=None)
    return float(flat[int(flat.size * q)])


def _divided(a: np.ndarray, divisor: float) -> np.ndarray:
    """``a / divisor``, or zeros where the official code would divide by zero."""
    if divisor <= 0.0:
        return np.zeros_like(a)
    return a / divisor


def _check_percentile(percentile: float) -> None:
    if not 0.0 <= percentile < 1.0:
        raise ValueError(f"The IVR percentile must be in [0, 1); got {percentile}.")
