"""The MOS trainer: a MOSNet-style predictor over ``ml.mos``, trained on the study's ACR votes.

It learns each clip's mean vote from its log-mel frames and predicts a MOS for every clip,
including those of systems nobody has rated yet; the MC-dropout spread of a prediction is its
uncertainty, which active learning uses to serve the clips the model is least sure of first.

No pre-fill: showing a listener the model's guess would anchor the very ratings a MOS test
exists to collect, so ``prefill_value`` stays None.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from apps.core.media import media_storage
from apps.core.models import Item, ItemMedia, Project
from apps.training.trainers import UNCERTAINTY, PredictionRow, Trainer, TrainOutcome
from ml.config import TrainingError
from ml.mos.config import MosTrainConfig

from .schemas import config_of

AUDIO_KEY = "audio"
CONTROL_ROLES = ("trap", "gold")


def clip_targets(project: Project) -> dict[int, tuple[float, int]]:
    """{item id: (mean vote, number of votes)} of the regular clips that have counted votes.

    The one place that decides which votes the predictor learns from: the votes the results
    use, i.e. without listeners the P.808 screening excluded or the researcher blocked (their
    answers stay in the database, left out here).
    """
    from .selectors import screened_votes

    used = screened_votes(project).used_test_votes()
    grouped = used.groupby("item")["vote"].agg(["mean", "size"])
    return {int(pk): (float(row["mean"]), int(row["size"])) for pk, row in grouped.iterrows()}


def audio_location(name: str) -> str:
    """The clip's absolute path when it is a file on this machine, else its storage name.

    Object storages (S3) have no ``path()``; some storages have one that names no real file
    (``InMemoryStorage``), so the file must also exist to be read by path.
    """
    try:
        path = media_storage.path(name)
    except NotImplementedError:
        return name
    return path if os.path.isfile(path) else name


def open_audio(record) -> contextlib.AbstractContextManager[str | BinaryIO]:
    """``ml.mos``'s opener: a local path as is, a storage name opened through the storage."""
    if Path(record.audio).is_absolute():
        return contextlib.nullcontext(record.audio)
    return media_storage.open(record.audio, "rb")


def _rounded_score(mos: float) -> int:
    """The ACR category nearest ``mos`` (halves round up, unlike Python's ``round``)."""
    return int(min(5, max(1, math.floor(mos + 0.5))))


class MosTrainer(Trainer):
    key = "mos"
    title = "MOS predictor (MOSNet-style, log-mel BiLSTM)"
    Config = MosTrainConfig
    metrics = [
        ("utt_lcc", "LCC (clip)"),
        ("utt_srcc", "SRCC (clip)"),
        ("sys_lcc", "LCC (system)"),
        ("sys_srcc", "SRCC (system)"),
        ("utt_mse", "MSE (clip)"),
        ("n_train", "Training clips"),
        ("n_test", "Test clips"),
    ]
    smoke_config = {
        "epochs": 1,
        "batch_size": 8,
        "max_samples": 16,
        "mc_samples": 2,
        "max_seconds": 2.0,
    }
    summary_fields = ["epochs", "lr", "n_mels", "test_fraction"]
    active_learning = [UNCERTAINTY]

    def records(self, project: Project, config: MosTrainConfig) -> list[dict]:
        """One record per regular ACR clip with an ``audio`` file; ``mos`` None when unrated."""
        design = config_of(project).design
        if design != "acr":
            raise TrainingError(
                f"The MOS predictor learns from ACR (1–5) votes; this study's design is {design}."
            )
        targets = clip_targets(project)
        rows = (
            ItemMedia.objects.filter(
                item__project=project, item__kind=Item.Kind.REGULAR, key=AUDIO_KEY
            )
            .order_by("item_id")
            .values_list("item_id", "item__payload", "file")
        )
        records = []
        for item_id, payload, name in rows.iterator(chunk_size=5000):
            payload = payload or {}
            if payload.get("role") in CONTROL_ROLES:
                continue
            mos, n_votes = targets.get(item_id, (None, 0))
            records.append(
                {
                    "item_id": item_id,
                    "system": str(payload.get("system") or ""),
                    "utterance_id": str(payload.get("utterance_id") or ""),
                    "audio": audio_location(name),
                    "mos": mos,
                    "n_votes": n_votes,
                }
            )
        return records

    def train(
        self, records, config: MosTrainConfig, device, progress: Callable, out_dir: Path
    ) -> TrainOutcome:
        from ml.mos.train import train

        result = train(records, config, device, progress, out_dir, opener=open_audio)
        return TrainOutcome(
            result.metrics, config.to_dict(), config.seed, result.snapshot["counts"]
        )

    def predict(
        self, artifact_dir: Path, records: Sequence[dict], device, progress: Callable
    ) -> list[PredictionRow]:
        """``{"score": nearest ACR category, "predicted_mos"}``; uncertainty = MC-dropout SD."""
        from ml.mos.predict import Predictor

        outputs = Predictor(artifact_dir, device).predict(
            records, opener=open_audio, progress=progress
        )
        return [
            PredictionRow(
                record["item_id"],
                {
                    "score": _rounded_score(out.predicted_mos),
                    "predicted_mos": round(out.predicted_mos, 4),
                },
                out.std,
            )
            for record, out in zip(records, outputs, strict=True)
        ]

    def priority(self, mode: str, item: Item, value: dict, uncertainty: float) -> float:
        """Most uncertain clip first: its votes teach the model the most."""
        return uncertainty


MOS_TRAINER = MosTrainer()
