"""The context classifier's settings (torch-free, so the web process can build the Train form)."""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Config, TrainingError, field


@dataclass(frozen=True)
class ContextTrainConfig(Config):
    """Hyper-parameters of the temporal / geographic / neither classifier.

    The defaults train a small head on frozen MiniLM embeddings in about a minute on a CPU
    (most of it encoding the questions once); ``finetune`` trains the encoder too, and then
    ``encoder_lr`` applies to it and the encoder runs on every step, which wants a GPU.
    """

    epochs: int = field(30, min=1, max=1000)
    lr: float = field(
        1e-3, label="Learning rate", min=1e-6, max=1.0, help="The classifier head's rate."
    )
    batch_size: int = field(64, min=1, max=4096)
    official_data: bool = field(
        True,
        label="Train on the official data",
        help="Add SituatedQA's id_data train questions to the project's own labels.",
    )
    max_official_rows: int | None = field(
        None,
        min=1,
        label="Max official training questions",
        help="Cap on the official train questions (a seeded subset); empty = all. The "
        "project's own labels are always used.",
    )
    max_dev_rows: int | None = field(
        None,
        min=1,
        label="Max dev questions",
        help="Cap on the official dev questions scored (a seeded subset); empty = all.",
        advanced=True,
    )
    class_weights: str = field(
        "balanced",
        choices=[
            ("balanced", "Balanced: each class weighs as much in the loss"),
            ("none", "None: each question weighs the same"),
        ],
        help="Neither is half of the training questions; balancing keeps the rarer "
        "geographic class from being drowned out.",
    )
    hidden: int = field(
        256, label="Hidden units", min=0, max=4096, help="0 = a logistic-regression head."
    )
    dropout: float = field(0.1, min=0.0, max=0.9, advanced=True)
    weight_decay: float = field(1e-2, min=0.0, max=1.0, advanced=True)
    encoder: str = field(
        "",
        help="A Hugging Face id or a path on the worker; empty = the bundled MiniLM-L6 "
        "(or the server's CHORUS_TEXT_ENCODER).",
    )
    finetune: bool = field(
        False,
        label="Fine-tune the encoder",
        help="Train the encoder with the head (slow on a CPU; meant for a GPU worker).",
    )
    encoder_lr: float = field(2e-5, label="Encoder learning rate", min=1e-7, max=0.1, advanced=True)
    max_length: int = field(64, label="Max tokens per question", min=8, max=512, advanced=True)
    seed: int = field(17, min=0, max=2**31 - 1)


__all__ = ["ContextTrainConfig", "TrainingError"]
