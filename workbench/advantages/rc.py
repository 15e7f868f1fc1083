"""RC, reward combination: plain GRPO on the base-weighted scalar reward.

s[i,j] = sum_k w[k] r[i,j,k];  A[i,j] = (s[i,j] - mean_j s[i,:]) / (std_j s[i,:] + eps).
TRL 1.16's ``multi_objective_aggregation="sum_then_normalize"``; with ``std="bessel", eps=1e-4`` it
reproduces TRL's advantages (tests/test_advantages_trl.py).

Missing rewards follow TRL: a missing objective counts as 0 in s (a NaN-skipping sum, so it lowers s
below the completion's peers); a completion whose every reward is missing is *unscorable*: it is left
out of the group's mean and std and gets advantage 0.
"""
from __future__ import annotations

import math

import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, GroupStats, batch_stats, check_inputs, group_stats, make_result, static_weights

SCALES = ("group", "batch")


def scalarise(per_objective: GroupStats, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Base-weighted scalar reward s (B, G) and the scorable mask (B, G), from the rewards' stats.

    s is NaN exactly where the completion is unscorable (every objective missing), so the NaN-aware
    group statistics leave it out of the baseline.
    """
    scorable = per_objective.scorable()
    s = per_objective.filled @ w
    return s.masked_fill(~scorable, math.nan), scorable


@register("rc")
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
    s, scorable = scalarise(per_obj, w)
    st = group_stats(s.unsqueeze(-1), std)
    if scale == "group":
        adv = st.zscore(eps).squeeze(-1)
    else:
        adv = st.centered.squeeze(-1) / batch_stats(s, scorable, std).denominator(eps).reshape(())
    return make_result(adv, per_obj, static_weights(w, rewards.shape[0]), scorable)
