"""Images and heatmap overlays as the participant sees them: PNG bytes, made with OpenCV.

An overlay is the image blended with the normalised map in the jet colour map (the colours of
the WSOL papers' figures), at the image's own size, so a box drawn on it is in image pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

OVERLAY_WEIGHT = 0.5  # share of the heatmap in the blend


def png_bytes(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError("The image could not be encoded as PNG.")
    return encoded.tobytes()


def to_image_frame(scoremap: np.ndarray, width: int, height: int) -> np.ndarray:
    """A map resized to the image (bicubic, as the CAMs were), clipped back into [0, 1]."""
    if scoremap.shape == (height, width):
        return scoremap
    resized = cv2.resize(
        scoremap.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(resized, 0.0, 1.0)


def overlay(rgb: np.ndarray, scoremap: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) with ``scoremap`` (values in [0, 1]) blended over it in jet."""
    height, width = rgb.shape[:2]
    a = to_image_frame(scoremap, width, height)
    colours = cv2.applyColorMap((a * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    blended = (1 - OVERLAY_WEIGHT) * rgb.astype(np.float64) + OVERLAY_WEIGHT * colours
    return np.clip(blended, 0, 255).astype(np.uint8)


def read_rgb(content: bytes, name: str) -> np.ndarray:
    """An uploaded image as (H, W, 3) uint8 RGB; ValueError naming ``name`` if unreadable."""
    decoded = cv2.imdecode(np.frombuffer(content, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError(f"{name}: not an image OpenCV can read (PNG or JPEG).")
    return decoded[..., ::-1]
