"""A pretrained text encoder with a mean-pooled linear head (2 logits, or 1 regression output)."""

from __future__ import annotations

import torch
from torch import nn


class EncoderHead(nn.Module):
    def __init__(self, encoder: nn.Module, num_outputs: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        # Mean over real tokens: MiniLM was pretrained for mean pooling, and it is a fair
        # default for RoBERTa/BERTweet too.
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out = self.head(self.dropout(pooled))
        return out.squeeze(-1) if out.shape[-1] == 1 else out


def encoder_from_config_dir(directory) -> nn.Module:
    """An encoder with random weights shaped by ``directory/config.json`` (weights come after)."""
    from transformers import AutoConfig, AutoModel

    return AutoModel.from_config(AutoConfig.from_pretrained(directory, local_files_only=True))
