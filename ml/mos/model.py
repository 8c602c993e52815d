"""A small MOSNet-style predictor: conv frontend, BiLSTM, frame scores averaged to a clip's MOS.

Shape, after MOSNet (Lo et al., 2019): convolutions over log-mel frames find local
artefacts (noise, band limits, clipping), a bidirectional LSTM gives each frame its context,
and a small head scores every frame; the clip's MOS is the mean of its frames' scores, and
training pulls both the clip score and every frame score towards the clip's MOS (MOSNet's
frame-level loss), so no single frame has to carry the whole judgement.

Not here, on purpose: a per-listener bias (MBNet, LDNet). The records are clip means after
screening (``apps.mos.trainer.clip_targets``), so there are no listener ids to learn a bias
from; the listener effects belong to the statistics, where the clustered interval models them.

Dropout sits after the frontend, after the LSTM and inside the head, so Monte Carlo dropout at
prediction (several passes with dropout on) gives a spread that grows where the model is
unsure: the uncertainty that steers which clips get votes next. The feature standardisation
(per-band mean and standard deviation of the training frames) is kept in buffers, so the
weights file alone turns raw log-mels into a MOS.
"""

from __future__ import annotations

import torch
from torch import nn


class MosNet(nn.Module):
    def __init__(self, n_mels: int, channels: int = 48, hidden: int = 32, dropout: float = 0.3):
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_mels))
        self.register_buffer("feature_std", torch.ones(n_mels))
        self.convs = nn.ModuleList(
            [
                nn.Conv1d(n_mels, channels, kernel_size=5, padding=2),
                nn.Conv1d(channels, channels, kernel_size=5, padding=4, dilation=2),
            ]
        )
        self.frontend_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor, target_mean: float) -> None:
        """Standardise inputs with the training frames' statistics; start at the mean MOS."""
        self.feature_mean.copy_(mean)
        self.feature_std.copy_(std.clamp(min=1e-3))
        with torch.no_grad():
            self.head[-1].bias.fill_(target_mean)

    def frame_scores(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``(batch, time)`` scores of ``(batch, time, n_mels)`` raw log-mel frames.

        Padded frames are zeroed before each convolution, so a convolution sees at a clip's
        end the same zeros as at its start, and the LSTM runs on packed sequences: a clip's
        score does not depend on what it was batched with.
        """
        keep = mask.unsqueeze(1).to(frames.dtype)  # (batch, 1, time)
        x = ((frames - self.feature_mean) / self.feature_std).transpose(1, 2)
        for conv in self.convs:
            x = torch.relu(conv(x * keep))
        x = self.frontend_dropout(x * keep).transpose(1, 2)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        x, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.head(x).squeeze(-1)

    def forward(
        self, frames: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(clip MOS ``(batch,)``, frame scores ``(batch, time)``); ``mask`` marks real frames,
        and only they enter the clip's mean."""
        scores = self.frame_scores(frames, mask)
        weights = mask.to(scores.dtype)
        clip = (scores * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return clip, scores


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
