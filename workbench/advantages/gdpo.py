"""GDPO, group reward-decoupled normalisation (arXiv 2601.05242): AC, then a batch-wide z-score.

A = sum_k w[k] (r_k - mu_k) / (sigma_k + eps)   (per group, as AC), then
A_hat = (A - mean_batch A) / (std_batch A + eps) over every scorable completion of the step.
TRL 1.16's ``multi_objective_aggregation="normalize_then_sum"``; with ``std="bessel", eps=1e-4`` it
reproduces TRL's advantages (tests/test_advantages_trl.py).

Unscorable completions (every reward missing) are left out of both steps and get 0.
"""
from __future__ import annotations

import torch

from .ac import combine_zscores
from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, check_inputs, flat_zscore, make_result, static_weights, with_conventions


@register("gdpo")
@with_conventions
def gdpo(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
         batch_norm: bool = True) -> AdvantageResult:
    """GDPO advantages.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel" (TRL); used in both steps.
    eps: added to every std (default 1e-6; TRL uses 1e-4).
    batch_norm: apply the batch-wide z-score (default True, the paper's method); False returns AC's
        advantages, which is the paper's ablation without the batch step.
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = base weights.
    """
    w = check_inputs(rewards, weights, std, eps)
    adv, st = combine_zscores(rewards, w, std, eps)
    if batch_norm:
        adv = flat_zscore(adv, st.scorable_mask(), std, eps)  # nothing missing: no mask at all
    return make_result(adv, st, static_weights(w, rewards.shape[0]))
