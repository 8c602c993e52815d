"""The one table CoPhy needs beyond Item: each imported example's arrays, exactly as read.

A scene is shown on one item per condition; its arrays are kept once, here, rather than as
item media, because the counterfactual outcome D must never reach a participant (any item
medium is served to whoever holds the item) and the export must give back the arrays that
were imported, bit for bit.
"""

from __future__ import annotations

import io

import numpy as np
from django.db import models
from django.utils import timezone

from apps.core.models import Project
from ml.cophy.layout import SCENARIOS, Example


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def npy_array(data: bytes | memoryview) -> np.ndarray:
    return np.load(io.BytesIO(bytes(data)), allow_pickle=False)


class Scene(models.Model):
    class Scenario(models.TextChoices):
        BLOCKTOWER = "blocktower", "Block tower"  # BlocktowerCF: 3 or 4 cubes
        BALLS = "balls", "Balls"  # BallsCF: 2 to 6 balls
        COLLISION = "collision", "Collision"  # CollisionCF: a sphere and a cylinder

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="cophy_scenes")
    example_id = models.CharField(max_length=200, help_text="blocktowerCF/3/17: its folder.")
    scenario = models.CharField(max_length=20, choices=Scenario.choices)
    n_objects = models.PositiveSmallIntegerField(help_text="Objects present in A.")
    # float32 .npy bytes: (T, K, 13) states of each run, (K, H) confounders.
    ab = models.BinaryField()
    cd = models.BinaryField()
    confounders = models.BinaryField()
    colors = models.JSONField(default=list, help_text="ab/colors.txt, a line each.")
    colors_cd = models.JSONField(default=list, help_text="cd/colors.txt, a line each.")
    gravity = models.JSONField(null=True, blank=True, help_text="Towers: [gravity_x, gravity_y].")
    # None: the example has no explanations.txt (towers), which is not the same as an empty one.
    explanation = models.TextField(null=True, blank=True, help_text="explanations.txt.")  # noqa: DJ001
    gold = models.BooleanField(default=False, help_text="Shown as a gold item (obvious outcome).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "example_id"], name="cophy_scene_id"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.example_id}"

    @classmethod
    def of_example(cls, project: Project, example: Example, *, gold: bool = False) -> Scene:
        assert example.scenario in SCENARIOS
        return cls(
            project=project,
            example_id=example.example_id,
            scenario=example.scenario,
            n_objects=example.n_objects,
            ab=npy_bytes(example.ab.astype(np.float32)),
            cd=npy_bytes(example.cd.astype(np.float32)),
            confounders=npy_bytes(example.confounders.astype(np.float32)),
            colors=list(example.colors),
            colors_cd=list(example.colors_cd),
            gravity=list(example.gravity) if example.gravity is not None else None,
            explanation=example.explanation,
            gold=gold,
        )

    def example(self) -> Example:
        """The scene as ``ml.cophy`` reads an example folder."""
        return Example(
            example_id=self.example_id,
            scenario=self.scenario,
            ab=npy_array(self.ab),
            cd=npy_array(self.cd),
            confounders=npy_array(self.confounders),
            colors=tuple(self.colors),
            colors_cd=tuple(self.colors_cd),
            gravity=tuple(self.gravity) if self.gravity is not None else None,  # type: ignore[arg-type]
            explanation=self.explanation,
        )
