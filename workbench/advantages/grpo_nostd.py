"""grpo_nostd: RC without the std division (the Dr.GRPO baseline the GDPO paper also runs).

s[i,j] = sum_k w[k] r[i,j,k];  A[i,j] = s[i,j] - mean_j s[i,:].
TRL 1.16's ``sum_then_normalize`` with ``scale_rewards="none"``. Missing rewards as in RC.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .rc import scalar_stats
from .stats import DEFAULT_EPS, check_inputs, group_stats, make_result, static_weights, with_conventions


@register("grpo_nostd")
@with_conventions
def grpo_nostd(rewards: torch.Tensor, weights, *, std: str = "population",
               eps: float = DEFAULT_EPS) -> AdvantageResult:
    """Dr.GRPO-style advantages: the group-centred scalar reward, not divided by its std.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel": only the reported per-objective group_std uses it.
    eps: accepted for the common signature and validated; unused (nothing is divided).
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = base weights.
    """
    w = check_inputs(rewards, weights, std, eps)
    per_obj = group_stats(rewards, std)
    adv = scalar_stats(per_obj, w, std)[1].centered.squeeze(-1)
    return make_result(adv, per_obj, static_weights(w, rewards.shape[0]))
