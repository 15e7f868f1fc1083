"""AC, advantage combination: z-score each objective within its group, then take the weighted sum.

A_k[i,j] = (r[i,j,k] - mu[i,k]) / (sigma[i,k] + eps);  A[i,j] = sum_k w[k] A_k[i,j].
Static weights, no batch step (GDPO is AC plus one).

Missing rewards: a missing r[i,j,k] is left out of objective k's statistics and contributes
A_k = 0 (TRL's NaN-skipping sum does the same); a completion whose every reward is missing gets 0.
An objective that is constant in a group contributes exactly 0 there.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, GroupStats, check_inputs, group_stats, make_result, static_weights


def combine_zscores(rewards: torch.Tensor, w: torch.Tensor, std: str, eps: float) -> tuple[torch.Tensor, GroupStats]:
    """sum_k w[k] A_k as (B, G), with the per-objective statistics it came from (validated inputs)."""
    st = group_stats(rewards, std)
    return st.weighted_zsum(w, eps), st


@register("ac")
def ac(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS) -> AdvantageResult:
    """AC advantages.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel".  eps: added to each objective's std (default 1e-6).
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = base weights.
    """
    w = check_inputs(rewards, weights, std, eps)
    adv, st = combine_zscores(rewards, w, std, eps)
    return make_result(adv, st, static_weights(w, rewards.shape[0]))
