"""Explanation inspection, the image half: generated objects-on-clutter data, a CAM classifier,
the four CAM normalisations and the WSOL localisation metrics (no Django here)."""
