"""A state-based CoPhyNet (Baradel et al., 2020, §4): abduction from AB, prediction from C.

* **Interaction layer** — a graph network over the objects of one frame: every ordered pair
  (i, j) of present objects sends a message ``φ([h_i, h_j, p_i − p_j])``, messages are summed
  over the present senders, and ``ψ([h_i, Σ_j m_ij])`` updates the node. Absent slots neither
  send nor keep a state (presence mask), so the layer serves any number of objects.
* **Confounder estimate** — the interaction layer runs on every frame of AB and a GRU per
  object integrates it over time; its last state ``u_k`` is the latent for object k's mass,
  friction (and the scene's gravity, seen by every object). Nothing supervises it.
* **Stability-gated rollout** — from C's positions, autoregressively for T−1 steps: the
  interaction layer on ``[position, velocity, u_k, A's first displacement, B's displacement
  from A and B's velocity at the same step]`` predicts a displacement and an "is moving"
  logit per object; the position moves by ``σ(logit) · (displacement + f · B's velocity)``
  with a learned per-object weight ``f``. B at the same step is the observed outcome of the
  unchanged scene: where C's change does not matter (a ball far from the moved one) D
  follows it, and the network only has to learn the difference. An object the model believes at rest cannot drift, which is
  the point of CoPhyNet's gate: most blocks of most towers do not move.

The displacement and follow heads start at zero, so an untrained model predicts Copy C
exactly: whatever beats Copy C was learnt.
Input positions are divided by ``scale`` (2 m): the scenes are a few metres wide.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .layout import SCENARIOS

N_SCENARIOS = len(SCENARIOS)


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, outputs),
    )


class Interaction(nn.Module):
    """One round of presence-masked pairwise message passing."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.encode = _mlp(features, hidden, hidden)
        self.message = _mlp(2 * hidden + 3, hidden, hidden)
        self.update = _mlp(2 * hidden, hidden, hidden)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """x (B, K, F), pos (B, K, 3), present (B, K) → (B, K, hidden)."""
        h = self.encode(x)
        K = h.shape[1]
        hi = h.unsqueeze(2).expand(-1, -1, K, -1)  # receiver i
        hj = h.unsqueeze(1).expand(-1, K, -1, -1)  # sender j
        rel = pos.unsqueeze(2) - pos.unsqueeze(1)
        m = self.message(torch.cat([hi, hj, rel], dim=-1))  # (B, K, K, hidden)
        eye = torch.eye(K, device=x.device, dtype=torch.bool)
        mask = present.unsqueeze(1) * present.unsqueeze(2) * (~eye).to(present.dtype)
        pooled = (m * mask.unsqueeze(-1)).sum(2)
        return self.update(torch.cat([h, pooled], dim=-1)) * present.unsqueeze(-1)


class CoPhyNet(nn.Module):
    def __init__(self, hidden: int = 64, scale: float = 2.0):
        super().__init__()
        self.scale = scale
        self.hidden = hidden
        node = 3 + 3 + 1 + N_SCENARIOS  # position, velocity, presence, scenario
        self.abduction = Interaction(node, hidden)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.dynamics = Interaction(node + hidden + 3 + 6, hidden)
        self.step = nn.Linear(hidden, 3)
        self.follow = nn.Linear(hidden, 1)
        self.moving = nn.Linear(hidden, 1)
        for head in (self.step, self.follow):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def confounders(
        self, ab: torch.Tensor, present: torch.Tensor, scenario: torch.Tensor
    ) -> torch.Tensor:
        """ab (B, T, K, 3) positions → u (B, K, hidden)."""
        B, T, K, _ = ab.shape
        pos = ab / self.scale
        vel = torch.cat([torch.zeros_like(pos[:, :1]), pos[:, 1:] - pos[:, :-1]], dim=1)
        flags = present[:, None, :, None].expand(B, T, K, 1)
        kind = scenario[:, None, None, :].expand(B, T, K, N_SCENARIOS)
        x = torch.cat([pos, vel, flags, kind], dim=-1).reshape(B * T, K, -1)
        h = self.abduction(
            x, pos.reshape(B * T, K, 3), present[:, None].expand(B, T, K).reshape(B * T, K)
        )
        h = h.reshape(B, T, K, -1).permute(0, 2, 1, 3).reshape(B * K, T, -1)
        _, last = self.gru(h)
        return last[0].reshape(B, K, -1) * present.unsqueeze(-1)

    def forward(
        self,
        ab: torch.Tensor,
        present_ab: torch.Tensor,
        c: torch.Tensor,
        present_cd: torch.Tensor,
        scenario: torch.Tensor,
        steps: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ab (B, T, K, 3) observed positions, c (B, K, 3) C's positions, scenario (B, S)
        one-hot → (positions (B, steps, K, 3), moving logits (B, steps, K))."""
        u = self.confounders(ab, present_ab, scenario)
        observed = ab / self.scale * present_ab[:, None, :, None]
        first = observed[:, 1] - observed[:, 0]
        b_shift = observed[:, 1:] - observed[:, :1]  # B's displacement from A, per step
        b_step = observed[:, 1:] - observed[:, :-1]  # B's velocity, per step
        B, K, _ = c.shape
        flags = present_cd.unsqueeze(-1)
        kind = scenario[:, None, :].expand(B, K, N_SCENARIOS)
        pos = c / self.scale
        vel = torch.zeros_like(pos)
        positions, logits = [], []
        for t in range(steps):
            x = torch.cat([pos, vel, flags, kind, u, first, b_shift[:, t], b_step[:, t]], dim=-1)
            h = self.dynamics(x, pos, present_cd)
            logit = self.moving(h).squeeze(-1)
            step = self.step(h) + self.follow(h) * b_step[:, t]
            # The gate is the supervised stability estimate: detached here, so the position
            # loss cannot close it to hide a wrong displacement; BCE alone trains it.
            gate = torch.sigmoid(logit).detach().unsqueeze(-1)
            delta = step * gate * flags
            pos = pos + delta
            vel = delta
            positions.append(pos)
            logits.append(logit)
        return torch.stack(positions, 1) * self.scale, torch.stack(logits, 1)


class CoPhyModels(nn.Module):
    """One CoPhyNet per scenario, as the paper trains them: a tower model does not share its
    stability head with balls, which are always moving (trained jointly, the towers' head
    learnt "everything moves" and their MSE stayed above Copy C's)."""

    def __init__(self, scenarios: Sequence[str], hidden: int = 64):
        super().__init__()
        self.scenarios = sorted(scenarios, key=SCENARIOS.index)
        self.nets = nn.ModuleDict({s: CoPhyNet(hidden) for s in self.scenarios})

    def net(self, scenario: str) -> CoPhyNet:
        if scenario not in self.nets:
            trained = ", ".join(self.scenarios)
            raise ValueError(f"This model was trained on {trained} scenes, not {scenario}.")
        return self.nets[scenario]  # type: ignore[return-value]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
