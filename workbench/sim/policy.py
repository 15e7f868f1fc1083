"""Policies over a bandit's candidates: a softmax per context (tabular) or a small MLP over context features.

Both map context indices (B,) (None: all C, skipping an index op) to logits (B, N) over the N candidates, so the trainer treats them alike.
Both start at the uniform policy (zero logits), as a freshly initialised LM head roughly does.
"""
from __future__ import annotations

import torch
from torch import nn

POLICIES = ("tabular", "mlp")


class TabularPolicy(nn.Module):
    """One free logit per (context, candidate): the exact setting of the achievable-set analysis."""

    def __init__(self, contexts: int, candidates: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(contexts, candidates))

    def forward(self, contexts: torch.Tensor | None = None) -> torch.Tensor:
        """contexts: (B,) long, or None for every context -> logits (B, N)."""
        return self.logits if contexts is None else self.logits[contexts]


class MLPPolicy(nn.Module):
    """features (C, F) -> tanh MLP -> logits (B, N); contexts share parameters, so updates generalise."""

    def __init__(self, features: torch.Tensor, candidates: int, hidden: int = 32):
        super().__init__()
        self.register_buffer("features", features.float())
        self.net = nn.Sequential(nn.Linear(features.shape[1], hidden), nn.Tanh(), nn.Linear(hidden, candidates))
        nn.init.zeros_(self.net[2].weight)                # uniform policy at step 0
        nn.init.zeros_(self.net[2].bias)

    def forward(self, contexts: torch.Tensor | None = None) -> torch.Tensor:
        """contexts: (B,) long, or None for every context -> logits (B, N)."""
        return self.net(self.features if contexts is None else self.features[contexts])


def make_policy(kind: str, features: torch.Tensor, candidates: int, hidden: int = 32) -> nn.Module:
    """Build the ``kind`` policy; parameters are drawn from torch's global RNG (seed it first)."""
    if kind == "tabular":
        return TabularPolicy(features.shape[0], candidates)
    if kind == "mlp":
        return MLPPolicy(features, candidates, hidden)
    raise ValueError(f"policy={kind!r}: use one of {POLICIES}")
