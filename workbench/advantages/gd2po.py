"""GD2PO, group-dynamic reward-decoupled policy optimisation (arXiv 2606.16771): GDPO with a
conflict filter on completions whose per-objective advantages cancel.

Per group, as GDPO/AC:  A_k[i,j] = (r[i,j,k] - mu[i,k]) / (sigma[i,k] + eps),  c_k = w[k] A_k.
Conflict score (the paper's "SNR" variant):  rho[i,j] = |sum_k c_k| / sum_k |c_k|  in [0, 1];
a completion is *filtered* when rho < threshold (strict), i.e. its signed contributions cancel.
Kept fraction of group i:  f_i = #kept / #scorable.  With ``scale_by_kept``:  a[i,j] = f_i sum_k c_k.
Then the batch whitening of GDPO over the kept completions only:
    A_hat = (a - mean_kept a) / (std_kept a + eps)  on kept completions,  0 on filtered ones.

Source. The formula was read from the authors' code, Qwen-Applications/GD2PO,
tool-calling/verl/trainer/ppo/ray_trainer.py (``_compute_gdpo_ratio_conflict_advantages``,
``_get_mixed_sign_conflict_mask``, ``_compute_gdpo_group_keep_ratio``, ``_apply_gdpo_keep_mask``,
and the ``GDPO_Filter_GroupRatio`` branch of ``compute_advantage``). The paper's method section was
not in the search corpora (only its abstract): what is stated here comes from that code.

Conventions (each a choice; the code's own value in brackets):
- threshold: in [0, 1]. 0 filters nothing, so the estimator *is* GDPO (tests check it). 1 is the
  paper's "hard" variant: a completion with contributions of both signs always has rho < 1, one
  without never does, so rho < 1 is exactly "any sign disagreement" [GDPO_Filter_GroupRatio]. The
  default 0.2 is the code's function default and the paper's value as the issue quotes it; the
  authors' released training scripts (both reward settings) pass tau = 0.8 instead.
- rho is computed on the *weighted* contributions w_k A_k, the terms whose sum is the advantage, so
  an objective with weight 0 can never cause a conflict [the code has no weights: equal weights].
- Ties, as the authors' code: a completion is a conflict only when some c_k > ratio_eps and some
  c_k < -ratio_eps, and it is dropped when |sum c| < threshold (sum |c| + ratio_eps), ratio_eps = 1e-8
  [``_get_mixed_sign_conflict_mask`` and ``gdpo_filter_ratio_conflict_eps``]. So a rho of exactly the
  threshold is dropped (the +1e-8 puts it just below), and |c_k| <= 1e-8 counts as no sign. ratio_eps=0
  gives the plain rule (rho < threshold, exact ties kept).
- scale_by_kept (default True, as in both released variants): the combined advantage is multiplied
  by the group's kept fraction *before* whitening, so a group that lost most completions to the
  filter moves the policy less ("query-level reweighting"). The fraction counts scorable completions
  [the code divides by the group size; they agree when nothing is missing].
- Whitening is over completions, not tokens, with the estimator's std convention and eps, exactly as
  this workbench's GDPO [the code's verl masked_whiten is token-weighted, Bessel, rsqrt(var + 1e-8)].
- Missing rewards: as AC (a missing r_k contributes A_k = 0 and cannot conflict); a completion
  with every reward missing is unscorable: 0, and out of the kept set and the whitening.
- A batch where everything is filtered gets all zeros.
"""
from __future__ import annotations

import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, check_inputs, flat_zscore, group_stats, make_result, scalar, static_weights


@register("gd2po")
def gd2po(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
          threshold: float = 0.2, scale_by_kept: bool = True, ratio_eps: float = 1e-8) -> AdvantageResult:
    """GD2PO advantages.

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel"; eps: added to every std (default 1e-6).
    threshold: conflict threshold in [0, 1] (default 0.2; 0 = GDPO, 1 = filter any disagreement).
    scale_by_kept: scale each group's advantages by its kept fraction before whitening (default True).
    ratio_eps: the authors' tie margin (default 1e-8; 0 = drop exactly when rho < threshold).
    Returns advantages (B, G); group_mean/group_std (B, K); weights = base weights (B, K);
    diagnostics: kept_frac (share of scorable completions kept).
    """
    w = check_inputs(rewards, weights, std, eps)
    if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be a number in [0, 1] (0 = GDPO, 1 = drop any sign conflict); "
                         f"got {threshold!r}.")
    if not (isinstance(ratio_eps, (int, float)) and 0.0 <= ratio_eps < 1e-3):
        raise ValueError(f"ratio_eps must be a small number >= 0 (the authors' 1e-8; 0 = no tie margin); got {ratio_eps!r}.")
    st = group_stats(rewards, std)
    scorable = st.scorable_mask()                                # (B, G) float 1/0; None: every completion
    per_group_w = (w / st.denominator(eps)).transpose(1, 2)      # (B, K, 1): w_k / (sigma_k + eps)
    adv = torch.bmm(st.centered, per_group_w).squeeze(-1)        # AC's sum, the same ops as GDPO's
    if threshold == 0:                                           # |sum c| < 0 never holds: GDPO
        adv = flat_zscore(adv, scorable, std, eps)
        return make_result(adv, st, static_weights(w, rewards.shape[0]),
                           diagnostics={"kept_frac": torch.ones((), dtype=adv.dtype, device=adv.device)})
    contrib = st.centered * per_group_w.transpose(1, 2)          # (B, G, K): c_k = w_k A_k
    # a conflict needs a sign on each side beyond the margin; without one nothing is filtered and every step
    # below is exact (kept fraction 1, the same whitening), so GDPO
    margin = scalar(ratio_eps, adv)
    mixed = (contrib > margin).any(-1) & (contrib < -margin).any(-1)
    net = contrib.sum(-1).abs_()                                 # |sum c|, then sum |c| in contrib's memory
    dropped = mixed & (net < scalar(threshold, adv) * (contrib.abs_().sum(-1) + margin))
    kept = (~dropped).to(dtype=adv.dtype)                        # (B, G) 1/0
    if scorable is not None:
        kept.mul_(scorable)
    n_kept = kept.sum(1, True)
    n = n_kept.sum()
    if scale_by_kept:
        g = scalar(rewards.shape[1], adv) if scorable is None else scorable.sum(1, True).clamp_min(1.0)
        adv = adv * (n_kept / g)
    adv = flat_zscore(adv, kept, std, eps, count=n)
    total = scalar(adv.numel(), adv) if scorable is None else scorable.sum().clamp_min(1.0)
    return make_result(adv, st, static_weights(w, rewards.shape[0]), diagnostics={"kept_frac": n / total})
