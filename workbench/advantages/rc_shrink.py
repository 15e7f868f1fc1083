"""rc_shrink: RC with James-Stein shrinkage of each group's baseline (and std) toward the batch's
(arXiv 2511.03710, "Shrinking the Variance: Shrinkage Baselines for RLVR"; EBPO, arXiv 2602.05165).

On the base-weighted scalar reward s[i,j] = sum_k w[k] r[i,j,k] (RC's scalarisation), per group i:
    m_i = mean_j s,  v_i = var_j s (the estimator's std convention),  n_i = #scorable completions.
Batch:  mu_b = mean_i m_i;   noise  V = mean_i var_bessel_j(s) / n_i  (variance of a group mean);
        signal S = mean_i (m_i - mu_b)^2;   shrinkage  lam = V / (V + S)  in [0, 1]  (0 when V + S = 0).
Baseline  b_i = (1 - lam) m_i + lam mu_b.
scale="group" (default):  A = (s - b_i) / (sqrt((1 - lam) v_i + lam vbar) + eps),  vbar = mean_i v_i;
scale="none" (the paper's form):  A = s - b_i.
With lam = 0 (``shrinkage=0``) this is RC exactly (scale="group") or grpo_nostd (scale="none").

Source. The data-driven weight was read from the paper's official code, guanning03/JSPO-Official,
code/verl/trainer/ppo/core_algos.py (``compute_jspo_plus_plus_outcome_advantage``: prompt_var =
var(unbiased)/m, v^2 = mean prompt_var, s^2 = mean (prompt_mean - batch_mean)^2, lambda = v^2 / (v^2 +
s^2 + eps), baseline = (1 - lambda) * RLOO baseline + lambda * batch mean). The papers' method sections
were not in the search corpora (abstracts only); EBPO's abstract describes the same structure with a
global prior carried across steps by Welford's algorithm, which is not implemented here (``dvao_shrink``
shows the state contract that would carry it).

Conventions chosen here:
- One lam for the whole batch (JSPO++); V and S are means over groups with >= 2 and >= 1 scorable
  completions. No eps in lam: V + S = 0 (every group constant at one value) gives lam = 0.
- The group's own mean m_i, not the paper's leave-one-out (RLOO) mean and leave-one-prompt-out batch
  mean: so that lam = 0 is RC exactly (the issue's property). The leave-one-out form removes the
  completion's own reward from its baseline (unbiased gradient); this one does not.
- The std is shrunk with the same lam toward the pooled within-group variance vbar. The paper divides
  by nothing (scale="none"); EBPO's abstract speaks of blending "local group statistics" with the
  prior. Dividing keeps RC's scale, so lam = 0 is RC.
- Missing rewards: RC's rules (a missing objective counts 0 in s; an unscorable completion gets 0 and
  is left out of every statistic).

Borrowing strength, and what a constant group gets. This estimator does not give a constant group
zeros: its completions all get  A = lam (m_i - mu_b) / sqrt(lam vbar)  (one value for the whole group),
positive when the group did better than the batch and negative when it did worse. That is the point
of the shrinkage (EBPO calls it the non-vanishing signal of saturated groups). Exact zeros remain
where lam = 0, in particular when every group of the batch is constant.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .rc import scalar_stats
from .stats import DEFAULT_EPS, check_inputs, group_stats, make_result, scalar, static_weights

SCALES = ("group", "none")


def check_shrinkage(shrinkage) -> None:
    if shrinkage is not None and not (isinstance(shrinkage, (int, float)) and 0.0 <= shrinkage <= 1.0):
        raise ValueError(f"shrinkage must be null (estimated from the batch) or a number in [0, 1] "
                         f"(0 = no shrinkage, 1 = the batch value); got {shrinkage!r}.")


@register("rc_shrink")
def rc_shrink(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
              shrinkage: float | None = None, scale: str = "group") -> AdvantageResult:
    """RC with a James-Stein shrinkage baseline.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel": the variance v_i that is shrunk and divided by.
    eps: added to the shrunk std (default 1e-6).
    shrinkage: null (default) estimates lam from the batch; a number in [0, 1] fixes it (0 = RC).
    scale: "group" (default) divides by the shrunk std; "none" does not (the paper's form).
    Returns advantages (B, G); group_mean/group_std (B, K) per objective; weights = base weights;
    diagnostics: shrinkage (lam).
    """
    w = check_inputs(rewards, weights, std, eps)
    check_shrinkage(shrinkage)
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}; got {scale!r}.")
    per_obj = group_stats(rewards, std)
    s, st = scalar_stats(per_obj, w, std)                       # statistics of s leave unscorable rows out
    mean, sq, var = st.mean.view(-1), st.sumsq.view(-1), st.var.view(-1)     # (B,)
    if st.present is None:                                      # every completion scorable: G each
        g, b = rewards.shape[1], scalar(rewards.shape[0], s)    # x.sum() / b is x.mean(), bit for bit
        batch_mean, pooled = mean.sum() / b, var.sum() / b
        noise = sq.sum() / b / scalar((g - 1) * g, s)           # mean of var_bessel / n
        signal = (mean - batch_mean).pow(2).sum() / b
    else:                                                       # groups with >= 1 and >= 2 scorable rows
        n = st.count.view(-1)
        n1 = n - scalar(1, n)
        has_mean, has_var = n.clamp_max(1.0), n1.clamp(0.0, 1.0)       # counts are whole numbers
        groups, pairs = has_mean.sum().clamp_min(1.0), has_var.sum().clamp_min(1.0)
        batch_mean, pooled = (mean * has_mean).sum() / groups, (var * has_var).sum() / pairs
        noise = (sq / n1.clamp_min(1.0) / n.clamp_min(1.0) * has_var).sum() / pairs
        signal = ((mean - batch_mean).pow(2) * has_mean).sum() / groups
    if shrinkage is None:
        lam = (noise / (noise + signal)).nan_to_num_(0.0)      # V + S = 0: every group constant, lam = 0
    else:
        lam = scalar(shrinkage, s)
    # lam = 0 needs no special case: the baseline is then the group mean bit for bit, so this is RC
    adv = s - (mean + lam * (batch_mean - mean)).unsqueeze(-1)  # baseline (1 - lam) m_i + lam mu_b
    if scale == "group":
        # var + lam (pooled - var) >= 0 for lam in [0, 1]. The shrunk std is > 0 in every group once any
        # group varies; it is 0 only when a fixed shrinkage meets a batch of constant groups: no scale
        # is known there, so the advantage is 0
        sd = (var + lam * (pooled - var)).sqrt().unsqueeze(-1)
        zero = scalar(0, sd)
        adv = torch.where(sd > zero, adv / (sd + scalar(eps, sd)), zero)
    if st.present is not None:
        adv = adv * st.present.squeeze(-1)                     # unscorable -> 0
    return make_result(adv, per_obj, static_weights(w, rewards.shape[0]), diagnostics={"shrinkage": lam if shrinkage is None else lam.to(dtype=s.dtype, copy=True)})
