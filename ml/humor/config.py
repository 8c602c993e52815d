"""The humor trainer's settings (torch-free, so the web process can build the Train form)."""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Config, TrainingError, field

TARGETS = ("binary", "continuous")
LABEL_SOURCES = ("reaction", "human", "both")


@dataclass(frozen=True)
class HumorTrainConfig(Config):
    """Hyper-parameters; the defaults follow CHoRaL (3 epochs, lr 2e-5) where it says."""

    target: str = field(
        "binary",
        choices=[
            ("binary", "Binary: humorous vs not"),
            ("continuous", "Continuous: humor score HS"),
        ],
    )
    label_source: str = field(
        "reaction",
        label="Labels",
        choices=[
            ("reaction", "Reaction labels"),
            ("human", "Human labels (majority of annotators)"),
            ("both", "Human labels where present, else reaction labels"),
        ],
    )
    epochs: int = field(3, min=1, max=100)
    lr: float = field(2e-5, label="Learning rate", min=1e-7, max=0.1)
    batch_size: int = field(16, min=1, max=1024)
    max_samples: int | None = field(
        None, min=1, help="Cap on training posts (a seeded subset); empty = all."
    )
    max_length: int = field(128, label="Max tokens per post", min=8, max=512, advanced=True)
    encoder: str = field(
        "",
        help="A Hugging Face id or a path on the worker; empty = the bundled MiniLM-L6 "
        "(or the server's CHORUS_TEXT_ENCODER).",
    )
    seed: int = field(13, min=0, max=2**31 - 1)
    test_fraction: float = field(0.2, min=0.0, max=0.99, advanced=True)
    weight_decay: float = field(0.01, min=0.0, max=1.0, advanced=True)
    warmup_ratio: float = field(0.06, min=0.0, max=1.0, advanced=True)


__all__ = ["HumorTrainConfig", "TrainingError", "TARGETS", "LABEL_SOURCES"]
