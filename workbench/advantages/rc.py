"""RC, reward combination: plain GRPO on the base-weighted scalar reward.

s[i,j] = sum_k w[k] r[i,j,k];  A[i,j] = (s[i,j] - mean_j s[i,:]) / (std_j s[i,:] + eps).
TRL 1.16's ``multi_objective_aggregation="sum_then_normalize"``; with ``std="bessel", eps=1e-4`` it
reproduces TRL's advantages (tests/test_advantages_trl.py).

Missing rewards follow TRL: a missing objective counts as 0 in s (a NaN-skipping sum, so it lowers s
below the completion's peers); a completion whose every reward is missing is *unscorable*: it is left
out of the group's mean and std and gets advantage 0.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .stats import (DEFAULT_EPS, GroupStats, check_inputs, complete_stats, flat_moments, group_stats, make_result,
                    masked_stats, scalar, static_weights, with_conventions)

SCALES = ("group", "batch")


def scalar_stats(per_objective: GroupStats, w: torch.Tensor, std: str) -> tuple[torch.Tensor, GroupStats]:
    """Base-weighted scalar reward s (B, G) and its group statistics (B, 1, 1), from the rewards' stats.

    s is 0 where the completion is unscorable (every objective missing), and its statistics leave
    those completions out (the scorable mask is their ``present``), exactly as NaN there would. When
    every completion is scorable they are the complete-batch statistics (``st.present`` is None).
    """
    s = per_objective.filled @ w
    if per_objective.present is None or bool(per_objective.present_rows.all()):   # no completion unscorable
        return s, complete_stats(s.unsqueeze(-1), std)
    return s, masked_stats(s.unsqueeze(-1), per_objective.scorable_mask().unsqueeze(-1), std)


@register("rc")
@with_conventions
def rc(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
       scale: str = "group") -> AdvantageResult:
    """RC advantages.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default; Proposition 1 holds exactly) or "bessel" (TRL).
    eps: added to the std before dividing (default 1e-6; TRL uses 1e-4).
    scale: "group" (default; GRPO) divides by the group's std of s; "batch" by the std of s over every
        scorable completion in the batch, still centred on the group mean (TRL's scale_rewards="batch").
    Returns advantages (B, G); group_mean/group_std (B, K) per objective; weights (B, K) = base weights.
    """
    w = check_inputs(rewards, weights, std, eps)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}.")
    per_obj = group_stats(rewards, std)
    s, st = scalar_stats(per_obj, w, std)
    if scale == "group":
        adv = st.zscore(eps).squeeze(-1)
    else:
        adv = st.centered.squeeze(-1) / (flat_moments(s, per_obj.scorable_mask(), std)[1] + scalar(eps, s))
    return make_result(adv, per_obj, static_weights(w, rewards.shape[0]))
