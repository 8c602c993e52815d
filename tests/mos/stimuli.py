"""Stimuli zips made here with numpy + soundfile: real audio, small and fast; the
``mos_project`` fixture (a plugin of the root conftest, so the browser tests have it too)."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
import soundfile

from apps.core.services import project_create
from apps.mos.schemas import Config

RATE = 16000


def tone(seconds: float = 1.0, hz: float = 220.0, level: float = 0.3, rate: int = RATE, seed=0):
    """A voiced-sounding tone with a little noise (loudness is measurable, nothing clips)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    wave = level * np.sin(2 * np.pi * hz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def encoded(samples, rate: int = RATE, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def stimuli_zip(files: dict[str, bytes], rows: list[dict], manifest: str = "manifest.csv"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        text = io.StringIO()
        fields = list(rows[0]) if rows else ["system", "utterance_id", "text", "file"]
        writer = csv.DictWriter(text, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr(manifest, text.getvalue())
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    buffer.name = "stimuli.zip"
    buffer.size = len(buffer.getvalue())
    return buffer


def study_files(systems=("reference", "good", "bad"), utterances=("u1", "u2"), seconds=1.0):
    files, rows = {}, []
    for s_index, system in enumerate(systems):
        for u_index, utterance in enumerate(utterances):
            name = f"clips/{system}_{utterance}.wav"
            level = 0.3 / (1 + s_index)
            files[name] = encoded(tone(seconds, 180 + 40 * u_index, level, seed=s_index))
            rows.append(
                {
                    "system": system,
                    "utterance_id": utterance,
                    "text": f"Sentence {utterance}.",
                    "file": name,
                }
            )
    return files, rows


@pytest.fixture
def mos_project(owner, settings, tmp_path):
    """A live MOS project of a given design, media under a temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"

    def make(design: str = "acr", slug: str = "", **config):
        qc = {"qualification": False, **config.pop("qc", {})}
        data = Config.model_validate({"design": design, "qc": qc, **config})
        return project_create(
            owner=owner,
            slug=slug or f"mos-{design}",
            title=f"MOS {design}",
            task_type="mos",
            config=data.model_dump(mode="json"),
        )

    return make
