"""DVAO, dynamic variance-adaptive advantage (arXiv 2605.25604).

Per group, the dynamic weights  w~[i,k] = w[k] sigma[i,k] / sum_l w[l] sigma[i,l]  reweight AC's
per-objective z-scores; the sum simplifies to

    A[i,j] = sum_k w[k] (r[i,j,k] - mu[i,k]) / (sum_l w[l] sigma[i,l] + eps),

which is what is computed: no division by a single sigma_k, so a constant objective needs no special
case (it has sigma_k = 0, so weight 0 and a zero numerator term). The paper gives no eps; eps here is
added to the pooled denominator only, and a group where every objective is constant gets A = 0
for any eps >= 0. With nothing missing and eps = 0, A = (std_j s / sum_k w_k sigma_k) * A_RC: RC
shrunk per group (Proposition 2). No batch step, as in the paper.

Missing rewards: a missing r[i,j,k] is left out of objective k's statistics and adds nothing to the
numerator; a completion whose every reward is missing gets 0.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, GroupStats, check_inputs, group_stats, make_result, scalar


@register("dvao")
def dvao(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS) -> AdvantageResult:
    """DVAO advantages.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero
        (only their ratios matter, up to eps: DVAO is invariant to scaling w).
    std: "population" (default; the paper's propositions hold with it) or "bessel".
    eps: added to sum_k w[k] sigma[i,k] (default 1e-6).
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = the dynamic w~, which sum
    to 1 in every group with any spread and are all 0 in a group where every objective is constant.
    """
    w = check_inputs(rewards, weights, std, eps)
    st = group_stats(rewards, std)
    adv, dynamic = spread_weighted(st, st.std.squeeze(1), w, eps)
    return make_result(adv, st, dynamic)


def spread_weighted(st: GroupStats, sigma: torch.Tensor, w: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """sum_k w_k (r_k - mu_k) / (sum_k w_k sigma_k + eps) as (B, G), and the dynamic weights (B, K).

    sigma: (B, K) the spread each objective is credited with (DVAO: its within-group std). Where
    sum_k w_k sigma_k = 0 the advantage is 0 and every weight is 0; the numerator must then be 0
    too, which holds whenever sigma_k = 0 implies objective k is constant in the group."""
    spread = sigma * w                                     # (B, K)
    pooled = spread.sum(-1, True)                          # (B, 1)
    flat = pooled == scalar(0, pooled)                     # every objective constant in the group
    safe = pooled + flat                                   # + True is + 1 where pooled is 0
    numerator = st.centered @ w                            # (B, G)
    adv = numerator / (safe + scalar(eps, safe))           # numerator is exactly 0 where flat
    return adv, spread / safe
