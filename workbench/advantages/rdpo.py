"""RDPO, reward-decorrelated policy optimisation (arXiv 2605.13641): quantile normalisation of each
objective within its group, then whitening of the objectives' correlation inside each group's active
reward subspace, then the weighted sum.

LABELLED RECONSTRUCTION. Only the paper's abstract and TRL issue #5886 could be read ("Magnitude-Aware
Quantile normalization to stabilize prompt-level advantage allocation across binary, fractional, and
continuous rewards", then "Mahalanobis whitening within each active reward subspace to mitigate
correlation redundancy prior to aggregation"); its method section and code were not in the search
corpora. Every formula below is this workbench's reading of those two sentences, not the paper's:

1. Quantile score. For each group i and objective k, the mid-rank quantile of each present reward,
       q[i,j,k] = 1/2 + sum_j' sign(r[i,j,k] - r[i,j',k]) / (2 n[i,k])   (= (mid-rank - 1/2) / n),
   mapped to a normal score u = Phi^{-1}(q) (looked up: q takes at most 2G - 1 values per n) and
   centred on its group mean. Ties share a mid-rank, so
   equal rewards get equal scores and a constant group gets exactly 0. q lies in [1/(2n), 1 - 1/(2n)],
   so scores are bounded by Phi^{-1}(1 - 1/(2n)): 0.67 at n = 2, 1.15 at n = 4, 1.86 at n = 16. A lone
   success among 16 gets +1.82 where the z-score gives +3.87: no prompt dominates by skew.
2. Magnitude. u is multiplied by m[i,k] = min(1, sigma[i,k] / sigmabar_k), the group's raw-reward std
   over the batch's pooled within-group std (sigmabar_k^2 = mean_i sigma[i,k]^2 over groups with >= 2
   values), so a group whose rewards barely differ (0.50 vs 0.51 on a 0-1 scale) does not get
   full-size quantile scores; binary rewards (sigma large whenever they differ) are barely affected.
   ``magnitude=False`` skips it.
3. Whitening. The active subspace of group i is the set of objectives that vary in it. From the
   batch, the pooled within-group correlation R[k,l] of the scores (pairwise over groups where both
   k and l are active), and per group the ZCA (symmetric, Mahalanobis) whitening restricted to its
   active set: x = u / s_k (s_k the pooled score scale), y = R_a^{-1/2} x, back to scale y * s_k.
   Eigenvalues of R_a are floored at 1e-3 (a pairwise correlation matrix need not be PSD; two
   identical objectives give a zero eigenvalue whose direction holds no signal anyway).
   ``whiten=False`` skips it: the per-objective normalisation RDPO reduces to when the objectives are
   uncorrelated (R = I), the property the tests check.
4. A[i,j] = sum_k w[k] y[i,j,k]. No batch step.

Missing rewards: a missing r_k is left out of its group's ranks and gets score 0 (it enters the
whitening as 0); a completion with every reward missing gets 0. ``std`` only sets the convention of
the raw-reward std in step 2; ``eps`` is accepted for the common signature and validated (nothing
is divided by a std plus eps).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, check_inputs, column_stats, static_weights

EIG_FLOOR = 1e-3
BROADCAST_LIMIT = 2_500_000  # G * G * B * K at most: rank by one broadcast comparison (else row pairs; measured crossover)


@lru_cache(maxsize=16)
def normal_scores(g: int) -> np.ndarray:
    """Phi^{-1}(1/2 + a / (2 n)) for n = 1..g (rows) and a = -(g-1)..(g-1) (columns, offset g-1).

    #less - #greater is an integer in [-(n-1), n-1], so every score a group of <= g values can get
    is in this small table; looking it up is ~10x cheaper than evaluating ndtri per reward."""
    n = np.arange(1, g + 1, dtype=np.float64)[:, None]
    a = np.arange(-(g - 1), g, dtype=np.float64)[None, :]
    # cells with |a| >= n belong to no present value (a missing one may land there): keep them finite
    q = np.clip(0.5 + a / (2 * n), 0.5 / g, 1 - 0.5 / g)
    return torch.special.ndtri(torch.from_numpy(q)).numpy()


def ahead_counts(x: np.ndarray) -> np.ndarray:
    """#less - #greater = sum_j' sign(x[j] - x[j']) over the present j' of each column of x (G, R), NaN
    missing: a comparison with NaN is False both ways, so a missing value counts for nobody (its own
    entry is never read).

    Pairwise, no sort: each pair is compared once and credited to both ends (the sign flips), so a step
    costs G (G - 1) / 2 comparisons of whole rows of R groups, as int8 signs summed into int16 counts;
    tiny batches broadcast all G^2 at once (fewer numpy calls). A sort is O(G log G), but numpy's row
    sort plus the tie bookkeeping and the scatter back cost more than this for the group sizes GRPO uses
    (bench/bench_estimators.py)."""
    g, r = x.shape
    count = np.int16 if g < 2 ** 14 else np.int32
    if g * g * r <= BROADCAST_LIMIT:
        a, b = x[:, None, :], x[None, :, :]
        return (a > b).sum(1, dtype=count) - (a < b).sum(1, dtype=count)
    acc = np.zeros((g, r), dtype=count)
    gt, lt, sign = np.empty((g, r), bool), np.empty((g, r), bool), np.empty((g, r), np.int8)
    for j in range(g - 1):
        m, rest = g - j - 1, x[j + 1:]
        np.greater(x[j], rest, out=gt[:m])
        np.less(x[j], rest, out=lt[:m])
        np.subtract(gt[:m].view(np.int8), lt[:m].view(np.int8), out=sign[:m])
        acc[j] += sign[:m].sum(0, dtype=count)
        acc[j + 1:] -= sign[:m]
    return acc


def quantile_scores(x: np.ndarray, present: np.ndarray | None) -> np.ndarray:
    """Centred normal scores of the mid-rank quantiles down each column of x (G, R), NaN missing; exactly
    0 where missing or where the column is constant (every score is then Phi^{-1}(1/2) = 0, so a plain
    mean centres it exactly). present: (G, R) float 1/0, or None when nothing is missing."""
    g = x.shape[0]
    table = normal_scores(g).astype(x.dtype)
    ahead = ahead_counts(x)                          # whole numbers in [-(n-1), n-1] where present
    if present is None:
        u = table[g - 1].take(ahead + np.intp(g - 1))
        u -= u.mean(0)
        return u
    n = present.sum(0)
    row = ((np.maximum(n, 1) - 1) * (2 * g - 1) + (g - 1)).astype(np.intp)     # (R,): each column's table row
    u = table.ravel().take(ahead + row)
    u *= present                                              # a missing one scores 0
    u -= u.sum(0) / np.maximum(n, 1)
    u *= present
    return u


def magnitude(sd: np.ndarray, count: np.ndarray) -> np.ndarray:
    """min(1, sigma[i,k] / pooled within-group sigma_k) as (B, K); 0 where the pooled sigma is 0.

    sd: (B, K) raw-reward std per group; count: (B, K) present values (the pool uses groups with >= 2)."""
    valid = count >= 2
    pooled = np.sqrt((sd ** 2 * valid).sum(0) / np.maximum(valid.sum(0), 1))
    return np.minimum(np.divide(sd, pooled, out=np.zeros_like(sd), where=pooled > 0), 1.0)


def whitened_weights(cross: np.ndarray, active: np.ndarray, count: np.ndarray, w: np.ndarray):
    """Step 3's ZCA whitening folded into the weights: A[i] = u[i] @ v[pattern of group i].

    cross: (B, K, K) per-group sums of score products; active: (B, K) bool, objective k varies in
    group i; count: (B, K) present values; w: (K,). Returns v (P, K) and which (B,), the index of each
    group's active pattern. With D = diag(s), s the pooled score scales, y = D R_a^{-1/2} D^{-1} u, so
    sum_k w_k y_k = u @ v with v = D^{-1} R_a^{-1/2} D w (R_a symmetric)."""
    k = cross.shape[1]
    if active.all():                 # every objective varies in every group: one pattern, plain sums
        num = cross.sum(0, dtype=np.float64)
        diag = np.diagonal(num).copy()
        corr = num / np.sqrt(np.outer(diag, diag))                        # diag > 0: every group varies
        scale = np.sqrt(diag / count.sum(0))
        evals, evecs = np.linalg.eigh(corr)
        inv_sqrt = (evecs / np.sqrt(np.maximum(evals, EIG_FLOOR))) @ evecs.T
        return ((inv_sqrt @ (scale * w)) / scale)[None], np.zeros(len(active), dtype=np.intp)
    cross = cross.astype(np.float64)
    act = active.astype(np.float64)
    own = np.diagonal(cross, axis1=1, axis2=2)                            # (B, K) sums of squares
    num = np.einsum("bk,bl,bkl->kl", act, act, cross)                      # over groups where both vary
    den = (act * own).T @ act                                              # den[k, l]: k's squares there
    norm = np.sqrt(den * den.T)
    corr = np.divide(num, norm, out=np.zeros_like(num), where=norm > 0)
    n = (act * count).sum(0)
    scale = np.sqrt(np.divide(np.diagonal(den), n, out=np.zeros_like(n), where=n > 0))
    scale[scale == 0] = 1.0
    patterns, which = np.unique(active @ (1 << np.arange(k)), return_inverse=True)
    bits = ((patterns[:, None] >> np.arange(k)) & 1).astype(np.float64)   # (P, K)
    sub = corr * bits[:, :, None] * bits[:, None, :] + np.eye(k) * (1 - bits)[:, None, :]
    evals, evecs = np.linalg.eigh(sub)
    inv_sqrt = (evecs / np.sqrt(np.maximum(evals, EIG_FLOOR))[:, None, :]) @ evecs.transpose(0, 2, 1)
    return (inv_sqrt @ (scale * w)) / scale, which.reshape(-1)


@register("rdpo")
def rdpo(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
         magnitude_aware: bool = True, whiten_active: bool = True) -> AdvantageResult:
    """RDPO advantages (a labelled reconstruction; see the module docstring).

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel" (the raw-reward std of the magnitude factor).
    eps: validated, unused.  magnitude_aware: step 2 (default True).  whiten_active: step 3 (default True).
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = base weights.

    Everything runs in numpy on the CPU, in (G, B*K) columns (one column per group and objective): the
    many small row and K x K operations cost a fraction of torch's per-call overhead there, and the
    group statistics are stats.column_stats, group_stats' numpy twin. A GPU batch makes one round trip.
    """
    w = check_inputs(rewards, weights, std, eps)
    b, g, k = rewards.shape
    x = np.ascontiguousarray(rewards.detach().cpu().numpy().transpose(1, 0, 2)).reshape(g, b * k)
    cs = column_stats(x, std)
    count = np.full((b, k), g, dtype=x.dtype) if cs.present is None else cs.count.reshape(b, k)
    u = quantile_scores(x, cs.present)
    u = np.ascontiguousarray(u.reshape(g, b, k).transpose(1, 0, 2))       # (B, G, K)
    wn = w.detach().cpu().numpy().astype(np.float64)
    coef = np.broadcast_to(wn, (b, k))                                    # per-group weights of u's columns
    scaled = magnitude(cs.std.reshape(b, k).astype(np.float64), count) if magnitude_aware else None
    if whiten_active and k > 1:
        cross = u.transpose(0, 2, 1) @ u                                  # (B, K, K)
        if scaled is not None:
            cross = cross * (scaled[:, :, None] * scaled[:, None, :])
        v, which = whitened_weights(cross, ~cs.constant.reshape(b, k), count, wn)
        coef = v[which]
    if scaled is not None:
        coef = coef * scaled
    adv = (u @ coef.astype(u.dtype)[:, :, None])[..., 0]
    like = dict(device=rewards.device, dtype=rewards.dtype)
    scorable = (torch.ones(b, g, dtype=torch.bool, device=rewards.device) if cs.present is None else
                torch.from_numpy(np.ascontiguousarray((cs.present.reshape(g, b, k) @ np.ones(k, x.dtype) > 0).T))
                .to(rewards.device))                                      # a matrix-vector product: fast
    return AdvantageResult(advantages=torch.from_numpy(adv).to(**like),
                           group_mean=torch.from_numpy(cs.mean.reshape(b, k)).to(**like),
                           group_std=torch.from_numpy(cs.std.reshape(b, k)).to(**like),
                           weights=static_weights(w, b), scorable=scorable, diagnostics={})
