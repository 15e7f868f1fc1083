"""RDPO, reward-decorrelated policy optimisation (arXiv 2605.13641): quantile normalisation of each
objective within its group, then whitening of the objectives' correlation inside each group's active
reward subspace, then the weighted sum.

LABELLED RECONSTRUCTION. What could be read of the paper (no code is public in the search corpora):
- Abstract: "Magnitude-Aware Quantile normalization to stabilize prompt-level advantage allocation
  across binary, fractional, and continuous rewards", then "Mahalanobis whitening within each active
  reward subspace to mitigate correlation redundancy prior to aggregation".
- Section 1 (the opening of arxiv.org/html/2605.13641v1; the method section was not stored): one training
  run mixes task types and "each task provides a distinct subset of reward signals"; the quantile step
  makes prompt-level advantages robust "against binary rewards, ties, skewed distributions, and
  outliers"; the whitening "reduces redundant variance among reward dimensions that co-occur" within a
  task. So the active subspace is the set of rewards a prompt has, which here is the set of objectives
  with a reward present in the group (a task that does not score an objective leaves it NaN).
- TRL issue #5886 ("RDPO support in GRPOTrainer"): "replaces Z-score normalization with Magnitude-Aware
  Quantile normalization and adds Mahalanobis whitening within each active reward subspace".
The paper's equations were not readable. Every formula below is this workbench's reading; what comes
from the sentences above is marked [paper], the rest is a convention of ours:

1. Quantile score [paper: quantile normalisation per prompt, robust to ties and skew; ours: the exact
   map]. For each group i and objective k, the mid-rank quantile of each present reward,
       q[i,j,k] = 1/2 + sum_j' sign(r[i,j,k] - r[i,j',k]) / (2 n[i,k])   (= (mid-rank - 1/2) / n),
   mapped to a normal score u = Phi^{-1}(q) (looked up: q takes at most 2G - 1 values per n) and
   centred on its group mean. Ties share a mid-rank, so equal rewards get equal scores and a constant
   group gets exactly 0. q lies in [1/(2n), 1 - 1/(2n)], so scores are bounded by Phi^{-1}(1 - 1/(2n)):
   0.67 at n = 2, 1.15 at n = 4, 1.86 at n = 16. A lone success among 16 gets +1.82 where the z-score
   gives +3.87: no prompt dominates by skew.
2. Magnitude [paper: "magnitude-aware"; ours: the factor]. u is multiplied by
   m[i,k] = min(1, sigma[i,k] / sigmabar_k), the group's raw-reward std over the batch's pooled
   within-group std (sigmabar_k^2 = mean_i sigma[i,k]^2 over groups with >= 2 values), so a group whose
   rewards barely differ (0.50 vs 0.51 on a 0-1 scale) does not get full-size quantile scores; binary
   rewards (sigma large whenever they differ) are barely affected. ``magnitude_aware=False`` skips it.
3. Whitening [paper: Mahalanobis whitening within each active reward subspace; ours: the estimate and
   the ZCA choice]. From the batch, the pooled within-group correlation R[k,l] of the scores (over the
   groups where both k and l are active), and per group the ZCA (symmetric) whitening of its active
   block: x = u / s_k (s_k the pooled score scale), y = R_a^{-1/2} x, back to scale y * s_k.
   ``active="present"`` (default, the paper's subspace): the objectives with a reward present in the
   group; with no missing rewards that is every objective, and one matrix whitens the whole batch.
   ``active="varying"`` (this workbench's round-1 reading): only the objectives that vary in the group,
   so a group whose objective l is constant whitens the others among themselves. Eigenvalues of R_a are
   floored at 1e-3 (a pairwise correlation matrix need not be PSD; two identical objectives give a zero
   eigenvalue whose direction holds no signal anyway). ``whiten_active=False`` skips the step: the
   per-objective normalisation RDPO reduces to when the objectives are uncorrelated (R = I), the
   property the tests check.
4. A[i,j] = sum_k w[k] y[i,j,k] [paper: aggregation after whitening; ours: the base weights]. No batch step.

Missing rewards: a missing r_k is left out of its group's ranks and gets score 0 (it enters the
whitening as 0); a completion with every reward missing gets 0. ``std`` only sets the convention of
the raw-reward std in step 2; ``eps`` is accepted for the common signature and validated (nothing
is divided by a std plus eps).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .base import AdvantageResult, register
from .stats import DEFAULT_EPS, check_inputs, column_stats, static_weights

EIG_FLOOR = 1e-3
ACTIVE = ("present", "varying")
BROADCAST_LIMIT = 4_000_000  # G * G * B * K at most: rank by one broadcast comparison (else row pairs; measured crossover)


@lru_cache(maxsize=32)
def normal_scores(g: int, dtype: np.dtype = np.float64) -> np.ndarray:
    """Phi^{-1}(1/2 + a / (2 n)) for n = 1..g (rows) and a = -(g-1)..(g-1) (columns, offset g-1).

    #less - #greater is an integer in [-(n-1), n-1], so every score a group of <= g values can get
    is in this small table; looking it up is ~10x cheaper than evaluating ndtri per reward."""
    n = np.arange(1, g + 1, dtype=np.float64)[:, None]
    a = np.arange(-(g - 1), g, dtype=np.float64)[None, :]
    # cells with |a| >= n belong to no present value (a missing one may land there): keep them finite
    q = np.clip(0.5 + a / (2 * n), 0.5 / g, 1 - 0.5 / g)
    table = torch.special.ndtri(torch.from_numpy(q)).numpy().astype(dtype)
    table.setflags(write=False)                  # shared by every call
    return table


def ahead_counts(x: np.ndarray) -> np.ndarray:
    """#less - #greater = sum_j' sign(x[j] - x[j']) over the present j' of each column of x (G, R), NaN
    missing: a comparison with NaN is False both ways, so a missing value counts for nobody (its own
    entry is never read).

    Pairwise, no sort: each pair is compared once and credited to both ends (the sign flips), so a step
    costs G (G - 1) / 2 comparisons of whole rows of R groups, as int8 signs summed into counts of the
    narrowest integer type that holds G (int8 below G = 128: 1.4-1.6x faster than int16 here). Smaller
    batches compare all G^2 ordered pairs in one broadcast (one comparison: #greater is the transposed
    sum of the same table), which is faster up to ~4M comparisons. A sort is O(G log G), but numpy's row
    sort plus the tie bookkeeping and the scatter back was 15x slower at G = 16, and torch's CPU sort of
    short rows 4x (measured here)."""
    g, r = x.shape
    count = np.int8 if g < 2 ** 7 else np.int16 if g < 2 ** 15 else np.int32   # |#less - #greater| < g
    if g * g * r <= BROADCAST_LIMIT:      # one comparison: x[j] < x[j'] is the transpose of x[j'] > x[j]
        gt = (x[:, None, :] > x[None, :, :]).view(np.int8)
        return gt.sum(1, dtype=count) - gt.sum(0, dtype=count)
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


def quantile_scores(ahead: np.ndarray, present: np.ndarray | None, count: np.ndarray | int,
                    dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Centred normal scores of the mid-rank quantiles, (G, R), from ``ahead_counts``; exactly 0 where
    missing or where the column is constant (every score is then Phi^{-1}(1/2) = 0, so a plain mean
    centres it exactly). present: (G, R) bool, None when nothing is missing; count: (R,) present values
    per column (the int G when nothing is missing); out: a (G, R) array of ``dtype`` to write into."""
    g = ahead.shape[0]
    table = normal_scores(g, dtype)
    if present is None:
        u = table[g - 1].take(ahead + np.intp(g - 1), out=out, mode="clip")   # "clip": unbuffered with out
        u -= u.mean(0)
        return u
    n = np.maximum(count, 1)
    row = ((n - 1) * (2 * g - 1) + (g - 1)).astype(np.intp)   # (R,): where each column's table row is centred
    u = table.ravel().take(ahead + row, out=out, mode="clip")
    u *= present                                              # a missing one scores 0
    u -= u.sum(0) / n
    u *= present
    return u


def present_counts(present: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(R,) present values per column of present (G, R) bool, as dtype: summed as int8 (or int16) bytes,
    7x faster than numpy's bool sum into floats."""
    g = present.shape[0]
    small = np.int8 if g < 2 ** 7 else np.int16 if g < 2 ** 15 else np.int32
    return present.view(np.int8).sum(0, dtype=small).astype(dtype)


def any_present(present: np.ndarray, k: int) -> np.ndarray:
    """(rows,) bool: some of a row's k values present, for present (rows * k,) bool. A row of 1, 2, 4 or 8
    bools read as one unsigned integer is nonzero exactly then (100x faster than numpy's any() along a
    short axis, measured here); other k OR their columns."""
    rows = present.reshape(-1, k)
    if k in (1, 2, 4, 8):
        return rows.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[k])[:, 0] != 0
    acc = rows[:, 0].copy()
    for j in range(1, k):
        acc |= rows[:, j]
    return acc


def magnitude(var: np.ndarray, count: np.ndarray) -> np.ndarray:
    """min(1, sigma[i,k] / pooled within-group sigma_k) as (B, K); 0 where the pooled sigma is 0.

    var: (B, K) raw-reward variance per group; count: (B, K) present values (the pool uses groups with
    >= 2). Compared as variances (the ratio of the square roots is the root of the ratio)."""
    valid = count >= 2
    pooled = (var * valid).sum(0) / np.maximum(valid.sum(0), 1)
    return np.sqrt(np.minimum(np.divide(var, pooled, out=np.zeros_like(var), where=pooled > 0), 1))


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for a (M, N) and b (N, P) or (N,). Products that numpy's OpenBLAS would split over threads
    (M N P >= 2^18 for a matrix, M N >= 9216 for a vector: its interface/gemm.c and gemv.c thresholds)
    go through torch, which keeps to torch's thread setting: with the other core busy, a threaded
    OpenBLAS product here took 100x its single-thread time."""
    if (a.shape[0] * a.shape[1] * b.shape[1] < 2 ** 18) if b.ndim == 2 else (a.size < 9216):
        return a @ b
    return (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()


def inverse_sqrt(m: np.ndarray) -> np.ndarray:
    """R^{-1/2} of each symmetric (K, K) matrix with unit diagonal in m (P, K, K), eigenvalues floored at
    EIG_FLOOR. K = 2 in closed form: [[1, r], [r, 1]] has eigenvalues 1 + r and 1 - r on (1, 1) and
    (1, -1), so R^{-1/2} = [[a + c, a - c], [a - c, a + c]] / 2 with a, c their inverse square roots
    (the common two-objective case without a LAPACK call)."""
    if m.shape[-1] == 2:
        r = m[:, 0, 1]
        a = 1 / np.sqrt(np.maximum(1 + r, EIG_FLOOR))
        c = 1 / np.sqrt(np.maximum(1 - r, EIG_FLOOR))
        out = np.empty_like(m)
        out[:, 0, 0] = out[:, 1, 1] = (a + c) / 2
        out[:, 0, 1] = out[:, 1, 0] = (a - c) / 2
        return out
    evals, evecs = np.linalg.eigh(m)
    return (evecs / np.sqrt(np.maximum(evals, EIG_FLOOR))[:, None, :]) @ evecs.transpose(0, 2, 1)


def whitened_weights(scores: np.ndarray, active: np.ndarray, count: np.ndarray,
                     w: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 3's ZCA whitening folded into the weights: A[i] = scores[:, i] @ v[pattern of group i].

    scores: (G, B, K) centred scores, exactly 0 where objective k is not active in group i (missing, or
    constant, there); active: (B, K) bool; count: (B, K) present values; w: (K,). With D = diag(s), s the
    pooled score scales, y = D R_a^{-1/2} D^{-1} u, so sum_k w_k y_k = u @ v, v = D^{-1} R_a^{-1/2} D w.
    Returns v (P, K) and which (B,), the index of each group's active pattern (None: one pattern, P = 1).

    The pooled statistics are two matrix products over the whole batch, not per-group ones: inactive
    scores are 0, so sum_i [k, l active in i] cross_i[k, l] = U'U (U the scores as (G B, K) rows), and
    the sum of k's squares over the groups where l is active is own' @ active, own (B, K) the per-group
    sums of squares. A correlation's diagonal is 1 by definition (set exactly, not as a ratio of two sums
    that round differently); an objective whose scores are 0 wherever it is active (constant in every
    group) gets correlation 0 and scale 1, which leaves it out (its scores are 0 anyway)."""
    g, b, k = scores.shape
    num = matmul(scores.reshape(g * b, k).T, scores.reshape(g * b, k)).astype(np.float64)   # (K, K)
    one = bool(active.all())                     # every group has every objective: one pattern
    if one and k == 2:                           # the common case, in Python floats (no array calls)
        return _two_objectives(num.tolist(), count.sum(0).tolist(), w.tolist()), None
    if one:
        den, n, patterns, which = np.diagonal(num)[:, None], count.sum(0), None, None
    else:
        own = np.einsum("gbk,gbk->bk", scores, scores).astype(np.float64)  # (B, K) sums of squares
        act = active.astype(np.float64)
        den = own.T @ act                                                  # den[k, l]: k's squares where l is active
        n = (act * count).sum(0)
        codes, which = np.unique(active @ (1 << np.arange(k)), return_inverse=True)
        patterns = ((codes[:, None] >> np.arange(k)) & 1).astype(np.float64)   # (P, K)
        which = which.reshape(-1)
    norm = np.sqrt(den * den.T)
    corr = np.divide(num, norm, out=np.zeros_like(num), where=norm > 0)
    np.fill_diagonal(corr, 1.0)
    sq = np.diagonal(den).copy() if not one else den[:, 0]
    scale = np.sqrt(np.divide(sq, n, out=np.zeros(k), where=n > 0))
    scale[scale == 0] = 1.0
    if patterns is None:
        sub = corr[None]
    else:   # each pattern's block: the active rows and columns of R, the identity elsewhere
        sub = corr * patterns[:, :, None] * patterns[:, None, :] + np.eye(k) * (1 - patterns)[:, None, :]
    return (inverse_sqrt(sub) @ (scale * w)) / scale, which


def _two_objectives(num: list, counts: list, w: list) -> np.ndarray:
    """``whitened_weights`` for K = 2 and one pattern: the same formulas on Python floats."""
    (n00, n01), (_, n11) = num
    r = n01 / math.sqrt(n00 * n11) if n00 * n11 > 0 else 0.0
    s0 = math.sqrt(n00 / counts[0]) if n00 > 0 and counts[0] > 0 else 1.0
    s1 = math.sqrt(n11 / counts[1]) if n11 > 0 and counts[1] > 0 else 1.0
    a, c = 1 / math.sqrt(max(1 + r, EIG_FLOOR)), 1 / math.sqrt(max(1 - r, EIG_FLOOR))
    p, q = (a + c) / 2, (a - c) / 2                 # R^{-1/2} = [[p, q], [q, p]] (inverse_sqrt)
    x0, x1 = s0 * w[0], s1 * w[1]
    return np.array([[(p * x0 + q * x1) / s0, (q * x0 + p * x1) / s1]])


@register("rdpo", inference_mode=False)
def rdpo(rewards: torch.Tensor, weights, *, std: str = "population", eps: float = DEFAULT_EPS,
         magnitude_aware: bool = True, whiten_active: bool = True, active: str = "present") -> AdvantageResult:
    """RDPO advantages (a labelled reconstruction; see the module docstring).

    rewards: (B, G, K) float, NaN = missing.  weights: (K,) base weights >= 0, not all zero.
    std: "population" (default) or "bessel" (the raw-reward std of the magnitude factor).
    eps: validated, unused.  magnitude_aware: step 2 (default True).  whiten_active: step 3 (default True).
    active: a group's whitening subspace, "present" (default: the objectives with a reward in the
        group) or "varying" (only those that vary in it).
    Returns advantages (B, G); group_mean/group_std (B, K); weights (B, K) = base weights.

    Everything runs in numpy on the CPU, in (G, B*K) columns (one column per group and objective): the
    many small row and K x K operations cost a fraction of torch's per-call overhead there, and the
    group statistics are stats.column_stats, group_stats' numpy twin. A GPU batch makes one round trip.
    """
    w = check_inputs(rewards, weights, std, eps)
    if active not in ACTIVE:
        raise ValueError(f"active must be one of {ACTIVE} (the objectives present in a group, or only those "
                         f"that vary in it); got {active!r}.")
    b, g, k = rewards.shape
    cpu = rewards.detach().cpu()
    if cpu.dtype not in (torch.float32, torch.float64):      # half types: numpy has no bfloat16
        cpu = cpu.float()
    x = np.ascontiguousarray(cpu.numpy().transpose(1, 0, 2)).reshape(g, b * k)   # our own copy
    with np.errstate(invalid="ignore", over="ignore"):
        complete = np.isfinite(x.sum())
    present = None if complete else x == x                   # NaN != NaN (an inf is refused by column_stats)
    count = g if complete else present_counts(present, x.dtype)
    ahead = ahead_counts(x)                                   # from x with its NaNs (they count for nobody)
    if not complete:                                          # then x becomes the filled values, in place
        np.copyto(x, 0, where=~present)                      # (5x nan_to_num's time in place, measured)
    cs = column_stats(x, present, std)
    # the scores reuse x's memory (its values are no longer needed): a fresh 2 MB array costs ~0.4 ms
    u = quantile_scores(ahead, present, count, x.dtype, out=x)   # (G, B*K), centred
    counts = np.full((b, k), g, dtype=x.dtype) if complete else count.reshape(b, k)
    wn = np.array(w.tolist())
    if magnitude_aware:
        u *= magnitude(cs.var.reshape(b, k), counts).reshape(-1)
    scores = u.reshape(g, b, k)                                           # a view
    if whiten_active and k > 1:
        subspace = counts > 0 if active == "present" else ~cs.constant.reshape(b, k)
        v, which = whitened_weights(scores, subspace, counts, wn)
        if which is None:
            adv = matmul(scores.reshape(g * b, k), v[0].astype(u.dtype))  # (G * B,)
        else:
            adv = np.einsum("gbk,bk->gb", scores, v[which].astype(u.dtype))
    else:
        adv = matmul(scores.reshape(g * b, k), wn.astype(u.dtype))
    scorable = np.ones((b, g), dtype=bool) if complete else np.ascontiguousarray(any_present(present, k).reshape(g, b).T)
    out = lambda a: torch.from_numpy(a).to(device=rewards.device, dtype=rewards.dtype)   # noqa: E731
    return AdvantageResult(advantages=out(np.ascontiguousarray(adv.reshape(g, b).T)),
                           group_mean=out(cs.mean.reshape(b, k)), group_std=out(cs.std.reshape(b, k)),
                           weights=static_weights(w, b), scorable=torch.from_numpy(scorable).to(rewards.device),
                           diagnostics={})
