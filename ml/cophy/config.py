"""The CoPhyNet trainer's settings (torch-free, so the web process can build the Train form)."""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Config, TrainingError, field


@dataclass(frozen=True)
class CophyTrainConfig(Config):
    """Hyper-parameters of the state-based CoPhyNet; defaults sized for a few hundred scenes."""

    epochs: int = field(40, min=1, max=1000)
    lr: float = field(3e-3, label="Learning rate", min=1e-6, max=0.1)
    batch_size: int = field(
        8, min=1, max=512, help="Scenes per step; small sets (the demo's 56) need many steps."
    )
    val_fraction: float = field(
        0.25,
        label="Held-out share of scenes",
        min=0.0,
        max=0.9,
        help="Scenes held out per scenario and object count (unless a record names its split); "
        "MSE, stability accuracy and the copy baselines are reported on them.",
    )
    seed: int = field(13, min=0, max=2**31 - 1)
    cross_count: bool = field(
        True,
        label="Cross-count test (3 → 4 blocks)",
        help="When both tower sizes are present, also train on 3-block towers only and test "
        "on the 4-block ones, as the paper's generalisation experiment.",
    )
    max_examples: int | None = field(
        None, min=1, help="Cap on training scenes (a seeded subset); empty = all."
    )
    hidden: int = field(64, label="Hidden units", min=8, max=512, advanced=True)
    pose_weight: float = field(
        10.0,
        label="Position loss weight",
        min=0.0,
        max=1000.0,
        advanced=True,
        help="w in BCE(stability) + w · masked MSE (CoPhy uses 10).",
    )
    weight_decay: float = field(1e-5, min=0.0, max=1.0, advanced=True)


__all__ = ["CophyTrainConfig", "TrainingError"]
