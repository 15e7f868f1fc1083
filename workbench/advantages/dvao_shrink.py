"""dvao_shrink: DVAO with each group's variance sigma_k^2 shrunk toward the batch-pooled one by an
empirical-Bayes weight, for small groups (this workbench's variant; no paper).

Why: DVAO weighs objective k in group i by its within-group std sigma[i,k]. With G = 4 binary rewards
that estimate is 0 whenever the four rewards agree, and DVAO then puts all the group's weight on the
other objectives; the bandit study found DVAO the worst of the four at G = 4 (the noisy small-group
variance the DVAO paper itself warns about). Shrinking toward the batch keeps DVAO's form:

    A[i,j] = sum_k w[k] (r[i,j,k] - mu[i,k]) / (sum_k w[k] s[i,k] + eps),   s = sqrt(v~),
    v~[i,k] = (1 - lam[i,k]) v[i,k] + lam[i,k] vbar[k]

with v[i,k] the group's variance (the estimator's std convention) and, per objective k, over the
groups with >= 2 present rewards (a constant group counts: its v = 0 is the noisy estimate to shrink):
    vbar_k   = mean_i v[i,k]                                  pooled within-group variance
    noise_ik = 2 vbar_k^2 / (n_ik - 1)                         normal-theory variance of a variance estimate
    tau2_k   = max(0, mean_i (v[i,k] - vbar_k)^2 - mean_i noise_ik)   spread of the true group variances
    lam_ik   = noise_ik / (noise_ik + tau2_k)   in [0, 1]  (0 when vbar_k = 0: the objective is constant)
(method-of-moments empirical Bayes, Morris 1983 style). lam falls like 1/G: at large G it goes to 0 and
the estimator is DVAO; ``shrinkage=0`` is DVAO exactly (tests check both). ``shrinkage=1`` gives every
group the batch-pooled spread (a batch-level DVAO).

Across steps (``memory`` > 0, the one stateful estimator): the prior (vbar_k, tau2_k) is an exponential
moving average over steps, prior_t = memory * prior_{t-1} + (1 - memory) * batch_t, carried in
``state = {"pooled_var": (K,), "between_var": (K,)}``: the caller passes the previous result's
``state`` back in (None on the first step, which uses the batch alone). Useful when a step has few
prompts (the LLM runs use 4), where a batch-only prior is itself noisy. memory = 0 ignores state.

Conventions: the normal-theory noise (Bessel form 2 sigma^4 / (n - 1)) overstates the noise of Bernoulli
rewards near p = 1/2 and understates it for rare successes; it is evaluated at the pooled vbar (a group's
own v would call a constant group noiseless). Missing rewards: left out of v, n and the means, as DVAO;
a group with < 2 present values of objective k gets s = 0 for it. The numerator is the group's own
centring, so an objective constant in a group still contributes exactly 0 there (it can only dilute the
others through the denominator), and a group with every objective constant gets exactly 0 (its dynamic
weights, built from the borrowed spread, are still defined and sum to 1).
"""
from __future__ import annotations

from typing import Mapping

import torch

from .base import AdvantageResult, register
from .dvao import spread_weighted
from .rc_shrink import check_shrinkage
from .stats import DEFAULT_EPS, check_inputs, group_stats, make_result, scalar

STATE_KEYS = ("pooled_var", "between_var")


def check_state(state, k: int) -> None:
    """A state from an earlier call of this estimator with the same K, or raise saying how to fix."""
    if not isinstance(state, Mapping) or set(state) != set(STATE_KEYS):
        raise ValueError(f"state must be None or the previous result's state, a mapping with keys {STATE_KEYS}; "
                         f"got {state!r}. Pass state=None to start a new prior.")
    for key in STATE_KEYS:
        value = state[key]
        if not (isinstance(value, torch.Tensor) and value.shape == (k,) and bool(torch.isfinite(value).all())
                and bool((value >= 0).all())):
            raise ValueError(f"state[{key!r}] must be a finite, non-negative tensor of shape ({k},) (one per "
                             f"objective); got {value!r}. A state from a run with another K cannot be reused: "
                             "pass state=None.")


@register("dvao_shrink", stateful=True)
def dvao_shrink(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
                shrinkage: float | None = None, memory: float = 0.0,
                state: Mapping[str, torch.Tensor] | None = None) -> AdvantageResult:
    """DVAO with empirical-Bayes shrinkage of each group's variance toward the batch's.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel"; eps: added to sum_k w_k s_k (default 1e-6).
    shrinkage: null (default) estimates lam[i,k] as above; a number in [0, 1] fixes it (0 = DVAO).
    memory: in [0, 1); > 0 smooths the prior across steps through ``state`` (default 0: batch only).
    state: the previous call's ``result.state`` or None.
    Returns advantages (B, G); group_mean/group_std (B, K) (the unshrunk std); weights (B, K) = the
    dynamic weights w_k s_k / sum_l w_l s_l; diagnostics: shrinkage (K,) mean lam per objective;
    state: the prior to pass to the next call (None when memory = 0).
    """
    w = check_inputs(rewards, weights, std, eps)
    check_shrinkage(shrinkage)
    if not (isinstance(memory, (int, float)) and 0.0 <= memory < 1.0):
        raise ValueError(f"memory must be a number in [0, 1) (0 = this batch only, 0.9 = ~10-step prior); got {memory!r}.")
    k = rewards.shape[-1]
    if memory > 0 and state is not None:
        check_state(state, k)
    st = group_stats(rewards, std)
    var = st.var.squeeze(1)                                       # (B, K), the estimator's std convention
    if st.present is not None:                                    # something missing: per-group counts
        n1 = st.count.squeeze(1) - scalar(1, var)
        valid = n1.clamp(0.0, 1.0)                                # 1 where >= 2 values (counts are whole)
        groups = valid.sum(0).clamp_min(1.0)                      # (K,) groups with a variance
        per_n = valid / n1.clamp_min(1.0)                         # 1 / (n - 1) where valid, else 0
        vbar = (var * valid).sum(0) / groups                      # (K,)
        two_v2 = scalar(2, var) * vbar.pow(2)
        spread = ((var - vbar).pow(2) * valid).sum(0) / groups
        tau2 = (spread - two_v2 * (per_n.sum(0) / groups)).clamp_min(0.0)
    else:                                                         # every group has G values: lam is per objective
        valid, b = None, scalar(var.shape[0], var)               # x.sum(0) / b is x.mean(0), bit for bit
        vbar = var.sum(0) / b
        two_v2 = scalar(2, var) * vbar.pow(2)
        tau2 = ((var - vbar).pow(2).sum(0) / b - two_v2 / scalar(rewards.shape[1] - 1, var)).clamp_min(0.0)
    next_state = None
    if memory > 0:
        if state is not None:
            vbar = memory * state["pooled_var"].to(vbar) + (1 - memory) * vbar
            tau2 = memory * state["between_var"].to(tau2) + (1 - memory) * tau2
            two_v2 = scalar(2, var) * vbar.pow(2)
        next_state = {"pooled_var": vbar.detach(), "between_var": tau2.detach()}
    if shrinkage is None:
        # 2 vbar^2 / (n - 1): (B, K), or (K,) when every group has G values
        noise = two_v2 / scalar(rewards.shape[1] - 1, var) if valid is None else two_v2 * per_n
        total = noise + tau2
        lam = noise / (total + (total == scalar(0, total)))     # vbar = 0: nothing to shrink toward (0 / 1)
    else:
        lam = torch.full_like(var, float(shrinkage)) * (1.0 if valid is None else valid)
    # (1 - lam) v + lam vbar >= 0 for lam in [0, 1]; 0 where < 2 values (v = 0 and lam = 0 there)
    sigma = (var + lam * (vbar - var)).sqrt()                     # (B, K)
    adv, dynamic = spread_weighted(st, sigma, w, eps)
    if lam.dim() == 1:
        lam_k = lam
    else:
        lam_k = lam.sum(0) / scalar(lam.shape[0], lam) if valid is None else (lam * valid).sum(0) / groups
    return make_result(adv, st, dynamic, diagnostics={"shrinkage": lam_k}, state=next_state)
