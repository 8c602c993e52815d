"""Question embeddings from a text encoder, and the small head that classifies them.

An :class:`Embedder` turns questions into the mean of the encoder's last hidden states over
the real tokens (MiniLM was pretrained for mean pooling; a fair default for BERT-likes too).
With the encoder frozen it computes each distinct text once per run and keeps it
(``__call__``); fine-tuning calls :meth:`Embedder.pooled`, which keeps the gradient and
caches nothing. The head is a one-hidden-layer MLP, or a logistic regression when
``hidden`` is 0.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ml.common import autocast, load_encoder, report, resolve_encoder

from .data import LABELS

EMBED_BATCH = 128  # questions per encoder call when only embedding (no gradient)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``hidden`` over the positions where ``mask`` is 1 (padding left out)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class Embedder:
    """A text encoder and its tokenizer on one device, with a per-text cache of embeddings."""

    def __init__(
        self, tokenizer, model: nn.Module, device: torch.device, *, source: str, max_length: int
    ):
        self.tokenizer = tokenizer
        self.model: Any = model.to(device).eval()  # a transformers PreTrainedModel
        self.device = device
        self.source = source  # the resolved id or path: what ``fits`` compares
        self.max_length = max_length
        self._cache: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, encoder: str, device: torch.device, *, max_length: int) -> Embedder:
        """The pretrained ``encoder`` ("" = the bundled MiniLM) from local files only."""
        tokenizer, model = load_encoder(encoder)
        return cls(tokenizer, model, device, source=resolve_encoder(encoder), max_length=max_length)

    @classmethod
    def from_saved(cls, directory: Path, device: torch.device, *, max_length: int) -> Embedder:
        """An encoder shaped by ``directory/config.json`` with random weights (loaded after)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModel.from_config(AutoConfig.from_pretrained(directory, local_files_only=True))
        return cls(tokenizer, model, device, source=str(directory), max_length=max_length)

    def for_tuning(self) -> Embedder:
        """A copy whose encoder can be trained without touching this one (nor its cache)."""
        model = copy.deepcopy(self.model).requires_grad_(True)
        return Embedder(
            self.tokenizer, model, self.device, source=self.source, max_length=self.max_length
        )

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def fits(self, encoder: str, max_length: int, device: torch.device) -> bool:
        """Whether this embedder is the one a config of ``encoder``/``max_length`` would load."""
        return (
            self.source == resolve_encoder(encoder)
            and self.max_length == max_length
            and self.device == device
        )

    def save(self, directory: Path) -> None:
        """The encoder's shape and tokenizer (its weights travel in the checkpoint)."""
        self.model.config.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def pooled(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled embeddings of ``texts`` on the device, in float32 (gradient kept)."""
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        mask = batch["attention_mask"].to(self.device)
        with autocast(self.device):
            hidden = self.model(
                input_ids=batch["input_ids"].to(self.device), attention_mask=mask
            ).last_hidden_state
        return mean_pool(hidden.float(), mask)

    @torch.no_grad()
    def __call__(
        self, texts: Sequence[str], progress: Callable[[float, str], bool] | None = None
    ) -> torch.Tensor:
        """``(len(texts), dim)`` embeddings on the CPU, each distinct text encoded once.

        New texts are encoded in batches of similar length (sorted by length, then text, so
        the same texts always meet in the same batches and give the same numbers).
        """
        todo = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
        self.model.eval()
        for start in range(0, len(todo), EMBED_BATCH):
            chunk = todo[start : start + EMBED_BATCH]
            for text, vector in zip(chunk, self.pooled(chunk).cpu(), strict=True):
                self._cache[text] = vector.clone()
            done = min(start + EMBED_BATCH, len(todo))
            report(progress, done / len(todo), f"Encoding questions · {done}/{len(todo)}")
        if not texts:
            return torch.empty(0, self.dim)
        return torch.stack([self._cache[t] for t in texts])


def build_head(dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Logits over :data:`LABELS` from an embedding: an MLP, or a linear layer if ``hidden`` is 0."""
    if hidden:
        return nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, len(LABELS)),
        )
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, len(LABELS)))


def checkpoint_module(head: nn.Module, encoder: nn.Module | None) -> nn.ModuleDict:
    """What a checkpoint holds: the head, and the encoder only when it was fine-tuned."""
    parts: dict[str, nn.Module] = {"head": head}
    if encoder is not None:
        parts["encoder"] = encoder
    return nn.ModuleDict(parts)
