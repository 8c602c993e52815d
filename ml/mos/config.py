"""The MOS predictor's settings (torch-free, so the web process can build the Train form)."""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Config, TrainingError, field


@dataclass(frozen=True)
class MosTrainConfig(Config):
    """Hyper-parameters of the MOSNet-style predictor; defaults sized for a few hundred clips."""

    epochs: int = field(30, min=1, max=500)
    lr: float = field(1e-3, label="Learning rate", min=1e-6, max=0.1)
    batch_size: int = field(16, min=1, max=512)
    max_samples: int | None = field(
        None, min=1, help="Cap on training clips (a seeded subset); empty = all rated clips."
    )
    test_fraction: float = field(
        0.2,
        label="Held-out share of utterances",
        min=0.0,
        max=0.9,
        help="Every clip of a held-out utterance is tested, so each system is scored on "
        "sentences the model never heard.",
    )
    seed: int = field(11, min=0, max=2**31 - 1)
    mc_samples: int = field(
        20,
        label="MC-dropout passes",
        min=2,
        max=200,
        help="Stochastic passes per clip at prediction; their spread is the uncertainty.",
    )
    max_seconds: float = field(8.0, label="Seconds per clip", min=0.5, max=60.0, advanced=True)
    n_mels: int = field(40, label="Mel bands", min=8, max=128, advanced=True)
    channels: int = field(48, label="Conv channels", min=8, max=256, advanced=True)
    hidden: int = field(32, label="BiLSTM units per direction", min=8, max=256, advanced=True)
    dropout: float = field(0.3, min=0.0, max=0.8, advanced=True)
    frame_weight: float = field(
        1.0,
        label="Frame-level loss weight",
        min=0.0,
        max=10.0,
        advanced=True,
        help="MOSNet's α: every frame is also pulled towards its clip's MOS.",
    )
    weight_decay: float = field(1e-4, min=0.0, max=1.0, advanced=True)


__all__ = ["MosTrainConfig", "TrainingError"]
