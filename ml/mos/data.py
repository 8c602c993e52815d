"""MOS records, the held-out split by utterance, and clips as log-mel frames.

A record is one rated (or not yet rated) clip as the platform exports it: ``item_id``,
``system``, ``utterance_id``, ``audio`` (a path, or a name the caller's opener understands),
``mos`` (the mean vote, None when unrated) and ``n_votes``.

**The split is by utterance.** Every clip of a held-out utterance is in the test set, so the
model is scored on sentences it never heard, in any system's voice, and every system that
rendered a held-out sentence is scored at system level on the same sentences as the others.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import soundfile
import torch

from ml.config import TrainingError

from .features import FeatureSpec, crop, load_audio, log_mel, mel_filterbank

# ``opener(record)`` gives a context manager yielding a path or a binary file object.
AudioOpener = Callable[["MosRecord"], contextlib.AbstractContextManager[str | BinaryIO]]


@dataclass(frozen=True)
class MosRecord:
    item_id: int
    system: str
    utterance_id: str
    audio: str
    mos: float | None = None
    n_votes: int = 0

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> MosRecord:
        mos = row.get("mos")
        try:
            mos = float(mos) if mos is not None and mos != "" else None
        except (TypeError, ValueError):
            mos = None
        if mos is not None and not math.isfinite(mos):
            mos = None
        return cls(
            item_id=int(row["item_id"]),
            system=str(row.get("system") or ""),
            utterance_id=str(row.get("utterance_id") or ""),
            audio=str(row["audio"]),
            mos=mos,
            n_votes=int(row.get("n_votes") or 0),
        )


def as_records(rows: Iterable[MosRecord | Mapping[str, Any]]) -> list[MosRecord]:
    return [r if isinstance(r, MosRecord) else MosRecord.from_mapping(r) for r in rows]


def open_path(record: MosRecord) -> contextlib.AbstractContextManager[str | BinaryIO]:
    """The default opener: ``audio`` is a path on this machine."""
    return contextlib.nullcontext(record.audio)


def split_by_utterance(
    records: Iterable[MosRecord], *, test_fraction: float, seed: int
) -> tuple[list[MosRecord], list[MosRecord]]:
    """Rated records as (train, test), a seeded ``test_fraction`` of utterances held out.

    With fewer than two utterances nothing is held out (there would be no training set).
    """
    rated = [r for r in records if r.mos is not None]
    utterances = sorted({r.utterance_id for r in rated})
    random.Random(seed).shuffle(utterances)
    n_test = round(len(utterances) * test_fraction) if len(utterances) >= 2 else 0
    n_test = min(n_test, len(utterances) - 1) if utterances else 0
    held_out = set(utterances[:n_test])
    train = [r for r in rated if r.utterance_id not in held_out]
    test = [r for r in rated if r.utterance_id in held_out]
    return train, test


def cap(records: list[MosRecord], max_samples: int | None, seed: int) -> list[MosRecord]:
    """A seeded random subset of at most ``max_samples`` records (all when None)."""
    if max_samples is None or len(records) <= max_samples:
        return records
    return random.Random(seed + 1).sample(records, max_samples)


class Featurizer:
    """Turns records into ``(frames, n_mels)`` log-mels, through the caller's opener."""

    def __init__(self, spec: FeatureSpec, max_seconds: float, opener: AudioOpener = open_path):
        self.spec = spec
        self.max_seconds = max_seconds
        self.opener = opener
        self.fbank = mel_filterbank(
            spec.n_mels, spec.n_fft, spec.sample_rate, spec.f_min, spec.f_max
        )

    def __call__(self, record: MosRecord) -> torch.Tensor:
        try:
            with self.opener(record) as source:
                wave = load_audio(source, self.spec.sample_rate)
        except (OSError, soundfile.LibsndfileError, RuntimeError) as exc:
            raise TrainingError(
                f"The clip of item {record.item_id} ({record.system}, {record.utterance_id}) "
                f"cannot be read: {exc}"
            ) from exc
        wave = crop(wave, self.max_seconds, self.spec.sample_rate)
        return log_mel(wave, self.spec, self.fbank)


def pad_batch(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(batch, longest, n_mels)`` zero-padded frames and the ``(batch, longest)`` real mask."""
    longest = max(f.shape[0] for f in features)
    frames = torch.zeros(len(features), longest, features[0].shape[1])
    mask = torch.zeros(len(features), longest, dtype=torch.bool)
    for i, f in enumerate(features):
        frames[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = True
    return frames, mask


def feature_stats(features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-band mean and standard deviation over every frame of the training clips."""
    frames = torch.cat(list(features), dim=0)
    return frames.mean(0), frames.std(0, unbiased=False)
