"""jspo: the shrinkage-baselines paper's estimator as its authors' code computes it (arXiv 2511.03710, "Shrinking
the Variance: Shrinkage Baselines for RLVR"; code guanning03/JSPO-Official, code/verl/trainer/ppo/core_algos.py).

On the base-weighted scalar reward s[i,j] = sum_k w[k] r[i,j,k] (RC's scalarisation; the authors' code has
one reward), per group i of n completions:
    RLOO baseline   rloo[i,j] = (sum_l s[i,l] - s[i,j]) / (n - 1)     (the completion's own reward left out)
    group mean      m_i = mean_j s[i,j];   noise V_i = var_bessel_j(s[i,:]) / n   (variance of a group mean)
James-Stein weight over the other groups' statistics:
    lam = v2 / (v2 + s2 + eps),   v2 = mean V,   s2 = mean (m - mu)^2,   mu = the mean of the group means
Baseline  b[i,j] = (1 - lam) rloo[i,j] + lam mu;   A[i,j] = s[i,j] - b[i,j].   No std division.

variant="loo" (default; the code's ``compute_jspo_outcome_advantage``, registered there as "jspo"): lam_i,
v2, s2 and mu are computed from the *other* groups only (leave one question out), so a group's own
rewards never enter its shrinkage target. variant="batch" (``compute_jspo_plus_plus_outcome_advantage``, "jspo_plus_plus",
with its smoothing off, ``js_smooth_coef=0``): one lam and mu from the whole batch.

This is not ``rc_shrink``: that is the workbench's own variant (the group mean instead of the RLOO baseline,
the std shrunk too and divided by, so that lam = 0 is RC). tests/test_advantages_jspo.py checks this module
against a loop-by-loop transcription of the two functions above.

Edge cases (each a choice where the code has none): a batch of one group has no other group to shrink
toward, so variant="loo" uses lam = 0 there (plain RLOO; the code's mean of an empty set is NaN); so does
eps = 0 with every group constant at one value (the code's 0 / 0). Missing
rewards follow RC (a missing objective counts 0 in s; a completion with every reward missing gets 0 and is
left out); a group with fewer than 2 scorable completions has no RLOO baseline: its advantages are 0 and it
is left out of the batch statistics. A constant group gets A = lam (m_i - mu): the non-zero signal the
paper's shrinkage gives saturated groups (docs/estimators.md, constant groups).
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .rc import scalar_stats
from .stats import DEFAULT_EPS, check_inputs, group_stats, make_result, scalar, static_weights

VARIANTS = ("loo", "batch")


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, 0 where den is 0 (eps = 0 and every group constant at one value: nothing to shrink)."""
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(num))


@register("jspo")
def jspo(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
         variant: str = "loo") -> AdvantageResult:
    """JSPO advantages (the authors' code, see the module docstring).

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: only the reported per-objective group_std uses it (JSPO divides by nothing).
    eps: in the shrinkage weight's denominator, as the code's ``epsilon`` (default 1e-6, verl's).
    variant: "loo" (default; the code's jspo) or "batch" (its jspo_plus_plus without smoothing).
    Returns advantages (B, G); group_mean/group_std (B, K); weights = base weights;
    diagnostics: shrinkage (the mean of lam over groups).
    """
    w = check_inputs(rewards, weights, std, eps)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS} (loo: the authors' jspo; batch: their jspo_plus_plus); "
                         f"got {variant!r}.")
    per_obj = group_stats(rewards, std)
    s, st = scalar_stats(per_obj, w, "bessel")                  # V_i uses the unbiased variance, as the code
    q = torch.ones_like(s) if st.present is None else st.present.squeeze(-1)          # (B, G) scorable 1/0
    n = q.sum(1)                                                # (B,)
    valid = (n >= 2).to(s.dtype)                                # groups with an RLOO baseline
    total = (s * q).sum(1)                                      # S_i
    mean = st.mean.view(-1)                                     # m_i
    noise = st.var.view(-1) / n.clamp_min(1.0)                  # V_i = var_bessel / n
    # s - rloo = (s - m_i) n / (n - 1): from the centred values, so a constant group's is exactly 0 (the plain
    # (S_i - s) / (n - 1) leaves a float residue of ~1e-8 there)
    loo_gap = st.centered.squeeze(-1) * (n / (n - 1).clamp_min(1.0)).unsqueeze(1)
    groups, samples = valid.sum(), (valid * n).sum()
    if variant == "batch":
        mu = (valid * total).sum() / samples.clamp_min(1.0)     # torch.mean(P): the mean of every sample
        v2 = (valid * noise).sum() / groups.clamp_min(1.0)
        s2 = (valid * (mean - mu).pow(2)).sum() / groups.clamp_min(1.0)
        lam = _ratio(v2, v2 + s2 + scalar(eps, s)).expand_as(mean)
        target = mu.expand_as(mean)
    else:
        others = groups - valid                                 # the other groups with a baseline
        k = others.clamp_min(1.0)
        centre = ((valid * mean).sum() - valid * mean) / k      # mean of the other groups' means
        v2 = ((valid * noise).sum() - valid * noise) / k
        s2 = (((valid * mean.pow(2)).sum() - valid * mean.pow(2)) / k - centre.pow(2)).clamp_min(0.0)
        lam = torch.where(others > 0, _ratio(v2, v2 + s2 + scalar(eps, s)), torch.zeros_like(v2))
        # the baseline's target is the mean of the other groups' samples (the code's batch_mean_per_sample)
        target = ((valid * total).sum() - valid * total) / (samples - valid * n).clamp_min(1.0)
    adv = (1 - lam).unsqueeze(1) * loo_gap + lam.unsqueeze(1) * (s - target.unsqueeze(1))   # s - baseline
    adv = adv * q * valid.unsqueeze(1)
    shrinkage = (lam * valid).sum() / groups.clamp_min(1.0)
    return make_result(adv, per_obj, static_weights(w, rewards.shape[0]), diagnostics={"shrinkage": shrinkage})
