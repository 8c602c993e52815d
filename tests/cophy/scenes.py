"""Tiny hand-made CoPhy scenes for the tests, written in the official layout, and the
``cophy_project`` fixture.

The motions are simple straight lines, not physics: what the platform does with a scene
(import, serve, score, export) does not depend on how the states were made. Each builder
says what the truth of its D is, so a test can check the labels by hand.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.cophy import services
from apps.core.models import Project
from apps.core.services import project_create
from ml.cophy.layout import PALETTES, STATE_DIM, TIMESTEPS, Example, color_lines


def _states(scenario: str, paths: dict[int, np.ndarray]) -> np.ndarray:
    """(T, K, 13): slot → (T, 3) positions, identity orientation, zero velocities."""
    T, K = TIMESTEPS[scenario], len(PALETTES[scenario])
    states = np.zeros((T, K, STATE_DIM), dtype=np.float32)
    for slot, path in paths.items():
        states[:, slot, 0:3] = path
        states[:, slot, 6] = 1.0
    return states


def _still(scenario: str, xyz) -> np.ndarray:
    return np.tile(np.asarray(xyz, dtype=np.float32), (TIMESTEPS[scenario], 1))


def _line(scenario: str, a, b, begin: int = 0, end: int | None = None) -> np.ndarray:
    """At ``a`` until frame ``begin``, then straight to ``b`` by frame ``end``, then still."""
    T = TIMESTEPS[scenario]
    end = T - 1 if end is None else end
    t = np.clip((np.arange(T) - begin) / max(end - begin, 1), 0, 1)[:, None]
    return (np.asarray(a) * (1 - t) + np.asarray(b) * t).astype(np.float32)


def tower(name: str = "1", *, top_falls: bool = True, remove: bool = False) -> Example:
    """3 blocks (red, green, blue bottom → top). AB stands still. C moves the blue block by
    +0.6 in x (or removes it); in D the blue block slides off to x = 1.6 and drops to the
    ground when ``top_falls``, else everything stays."""
    s = "blocktower"
    base = {0: (0.0, 0.0, 0.5), 1: (0.0, 0.0, 1.5), 2: (0.0, 0.0, 2.5)}
    ab = _states(s, {k: _still(s, p) for k, p in base.items()})
    c = {0: base[0], 1: base[1]}
    paths = {k: _still(s, p) for k, p in c.items()}
    if not remove:
        start = (0.6, 0.0, 2.5)
        paths[2] = _line(s, start, (1.6, 0.0, 0.5), 3, 12) if top_falls else _still(s, start)
    cd = _states(s, paths)
    slots = [0, 1] if remove else [0, 1, 2]
    return Example(
        example_id=f"blocktowerCF/3/{name}",
        scenario=s,
        ab=ab,
        cd=cd,
        confounders=np.array([[1.0, 0.5], [10.0, 1.0], [1.0, 0.5], [1.0, 0.5]], np.float32),
        colors=color_lines(s, [0, 1, 2]),
        colors_cd=color_lines(s, slots),
        gravity=(0.5, 0.0),
    )


def balls(name: str = "1") -> Example:
    """Red and green balls. AB: red rolls from (−2, 0) to (1, 0); green rests at (2, 1).
    C: red moved by +1 in y. D: red rolls from (−2, 1) to (1.6, 1) and touches green, which
    rolls to (2.8, 1). Truth: red ends at (1.6, 1); it touches green first."""
    s = "balls"
    ab = _states(s, {0: _line(s, (-2, 0, 0.3), (1, 0, 0.3)), 1: _still(s, (2, 1, 0.3))})
    cd = _states(
        s,
        {
            0: _line(s, (-2, 1, 0.3), (1.6, 1, 0.3), 0, 20),
            1: _line(s, (2, 1, 0.3), (2.8, 1, 0.3), 20, 29),
        },
    )
    example = Example(
        example_id=f"ballsCF/2/{name}",
        scenario=s,
        ab=ab,
        cd=cd,
        confounders=np.tile(np.array([1.0, 0.5, 0.5], np.float32), (9, 1)),
        colors=color_lines(s, [0, 1]),
        colors_cd=color_lines(s, [0, 1]),
        explanation="The red ball was moved 1.00 along +y.",
    )
    return example


def collision(name: str = "1") -> Example:
    """A yellow sphere rolls at a blue standing cylinder. C moves the sphere by −0.5 in y;
    in D it stops at (0.5, −0.5) without touching the cylinder at (1.5, 0)."""
    s = "collision"
    types = {0: "sphere", 2: "cylinder_up"}
    ab = _states(s, {0: _line(s, (-2, 0, 0.3), (1.0, 0, 0.3)), 2: _still(s, (1.5, 0, 0.6))})
    cd = _states(s, {0: _line(s, (-2, -0.5, 0.3), (0.5, -0.5, 0.3)), 2: _still(s, (1.5, 0, 0.6))})
    return Example(
        example_id=f"collisionCF/{name}",
        scenario=s,
        ab=ab,
        cd=cd,
        confounders=np.tile(np.array([2.0, 0.1, 1.0], np.float32), (4, 1)),
        colors=color_lines(s, [0, 2], types),
        colors_cd=color_lines(s, [0, 2], types),
        explanation="The yellow sphere was moved 0.50 along −y.",
    )


def broken(example: Example, **arrays) -> Example:
    return dataclasses.replace(example, **arrays)


def upload(examples, gold=(), name: str = "scenes.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, services.scenes_zip_bytes(examples, list(gold)))


def zip_file(examples, gold=()) -> io.BytesIO:
    buffer = io.BytesIO(services.scenes_zip_bytes(examples, list(gold)))
    buffer.name = "scenes.zip"
    return buffer


@pytest.fixture
def cophy_project(owner, settings, tmp_path):
    """A CoPhy project with the given conditions, media under a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"

    def make(*conditions: str, slug: str = "cophy", status: str = Project.Status.LIVE, **config):
        return project_create(
            owner=owner,
            slug=slug,
            title="CoPhy study",
            task_type="cophy",
            status=status,
            config={"conditions": list(conditions or ("observed",)), **config},
        )

    return make
