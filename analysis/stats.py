"""Interval estimates over seeds: stratified percentile bootstrap, probability of improvement, IQM,
performance profiles and the seed count a comparison needs. Pure numpy/scipy functions, no I/O.

The conventions follow Agarwal et al. 2021 ("Deep RL at the edge of the statistical precipice", the
``rliable`` library): percentile intervals from a *stratified* bootstrap (each stratum, e.g. one
panel's seeds of one method, is resampled with replacement on its own, so every resample keeps each
panel's seed count), IQM = the mean of the middle 50% of the pooled scores, probability of improvement
= the Mann-Whitney estimate. The resampling itself is ``scipy.stats.bootstrap``: rliable 1.2.0 installs
next to our pins but does not import (its dependency ``arch`` < 8 breaks on pandas 3: "deprecate_kwarg()
missing 1 required positional argument"), and arch 8 is outside rliable's own pin.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats as st

IQM_CUT = 0.25   # trimmed from each end for the interquartile mean


def _check(n_boot: int, level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be a positive number of bootstrap resamples, got {n_boot}")


def stratified_interval(strata, statistic, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """(estimate, lo, hi) of ``statistic(*strata)`` with a stratified percentile bootstrap.

    strata: sequence of 1-D arrays (NaN entries dropped). statistic(*samples, axis=-1) must be vectorised:
    each sample arrives with a leading batch axis and the result is a scalar or a (M,) vector per batch
    element (shape (M, batch) or (batch,)). A stratum of one value says nothing about its spread and is
    held fixed (rliable does the same); when no stratum has two values the bounds are NaN.
    """
    _check(n_boot, level)
    strata = [np.asarray(s, dtype=float)[np.isfinite(np.asarray(s, dtype=float))] for s in strata]
    if any(len(s) == 0 for s in strata):     # nothing to estimate from: NaN of the statistic's shape
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            nan = np.full_like(np.asarray(statistic(*[np.zeros(1)] * len(strata), axis=-1), dtype=float), np.nan)
        return nan, nan, nan
    estimate = np.asarray(statistic(*strata, axis=-1), dtype=float)
    free = [i for i, s in enumerate(strata) if len(s) >= 2]
    if not free:
        nan = np.full_like(estimate, np.nan)
        return estimate, nan, nan

    def resampled(*samples, axis=-1):   # re-insert the fixed strata, broadcast to the batch shape
        batch = samples[0].shape[:-1]
        full = [np.broadcast_to(s, (*batch, len(s))) for s in strata]
        for i, sample in zip(free, samples):
            full[i] = sample
        return statistic(*full, axis=-1)

    res = st.bootstrap([strata[i] for i in free], resampled, n_resamples=n_boot, confidence_level=level,
                       method="percentile", vectorized=True, paired=False, rng=np.random.default_rng(seed))
    return estimate, np.asarray(res.confidence_interval.low), np.asarray(res.confidence_interval.high)


def mean_interval(values, **kw) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of ``values`` (NaN dropped) and its percentile-bootstrap interval."""
    est, lo, hi = stratified_interval([values], lambda x, axis=-1: x.mean(axis=axis), **kw)
    return float(est), float(lo), float(hi)


def poi_statistic(x, y, axis=-1):
    """P(X > Y) + P(X = Y) / 2 over every pair of an x and a y (the last axis of each), vectorised.

    Computed as the Mann-Whitney U of x over nx * ny: U = (sum of x's ranks in the pooled sample, ties
    averaged) - nx (nx + 1) / 2, which counts exactly the pairs x > y plus half the ties, in
    O(n log n) per resample instead of O(nx ny)."""
    nx, ny = x.shape[-1], y.shape[-1]
    ranks = st.rankdata(np.concatenate([x, y], axis=-1), axis=-1)
    return (ranks[..., :nx].sum(axis=-1) - nx * (nx + 1) / 2) / (nx * ny)


def probability_of_improvement(a, b, **kw) -> tuple[float, float, float]:
    """(P(a > b), lo, hi): the Mann-Whitney estimate of P(a seed of A scores above a seed of B), ties 1/2,
    with a bootstrap interval that resamples A's and B's seeds independently (two strata)."""
    est, lo, hi = stratified_interval([a, b], poi_statistic, **kw)
    return float(est), float(lo), float(hi)


def paired_probability_of_improvement(a, b, **kw) -> tuple[float, float, float]:
    """(P(a > b on the same seed), lo, hi): the share of paired seeds where a is higher, ties 1/2, with a
    percentile-bootstrap interval over the pairs. For designs where a seed fixes the problem (the bandit:
    one seed = one bandit for every method), so seed-to-seed difficulty does not blur the comparison as it
    does in the unpaired ``probability_of_improvement``. Pairs with a NaN side are dropped."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    wins = (a[keep] > b[keep]) + 0.5 * (a[keep] == b[keep])
    return mean_interval(wins, **kw)


def wilcoxon_p(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences a - b (scipy; exact for small
    samples without ties or zeros); NaN when no pair differs. With 5 pairs the smallest possible value is
    2 / 32 = 0.0625: five seeds cannot pass a paired rank test at 5%, however consistent the sign."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    if not np.any(d != 0):
        return float("nan")
    return float(st.wilcoxon(d, alternative="two-sided").pvalue)


def mann_whitney_p(a, b) -> float:
    """Two-sided Mann-Whitney U test p-value (scipy; exact for small samples without ties); NaN when a
    side has no value. With n_a = n_b = 3 the smallest possible value is 0.1: no rank test at 5% can
    separate three seeds from three, however far apart they lie."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(st.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def smallest_rank_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided exact Mann-Whitney p-value n_a vs n_b seeds can give: 2 / C(n_a + n_b, n_a)."""
    return min(1.0, 2.0 / math.comb(n_a + n_b, n_a)) if n_a and n_b else float("nan")


def min_seeds_for_rank_test(level: float = 0.95) -> int:
    """The fewest seeds per method (equal counts) with which the two-sided Mann-Whitney test can reject at
    1 - level at all: 4 at the 5% level (smallest p 2/70), 5 at 1%."""
    n = 1
    while smallest_rank_p(n, n) >= 1 - level:
        n += 1
    return n


def iqm(x, axis=-1):
    """Interquartile mean: the mean after trimming 25% of the values from each end (scipy.stats.trim_mean)."""
    return st.trim_mean(x, IQM_CUT, axis=axis)


def pooled_mean_iqm(*strata, axis=-1):
    """(2, ...) [mean, IQM] of all strata pooled along the last axis (each run counts once)."""
    pooled = np.concatenate(strata, axis=-1)
    return np.stack([pooled.mean(axis=-1), iqm(pooled, axis=-1)])


def profile(taus):
    """A statistic: the share of pooled scores strictly above each threshold tau, shape (len(taus), ...)."""
    taus = np.asarray(taus, dtype=float)

    def share(*strata, axis=-1):
        pooled = np.concatenate(strata, axis=-1)
        return np.moveaxis((pooled[..., None] > taus).mean(axis=-2), -1, 0)
    return share


def seeds_needed(diff: float, sd: float, *, paired: bool = False, level: float = 0.95, power: float = 0.8) -> float:
    """Seeds per method for a two-sided t-test at ``1 - level`` to detect ``diff`` with probability ``power``.

    The usual sample-size formula with t quantiles (normal approximation to the power of a t-test), solved
    for the smallest n >= 2 with  n >= c (t_{1-alpha/2, df} + t_{power, df})^2 sd^2 / diff^2:
    unpaired c = 2, df = 2 (n - 1), sd the pooled per-seed sd; paired c = 1, df = n - 1, sd the sd of the
    per-seed differences. inf when there is no difference, NaN when the spread is unknown.
    """
    if not (math.isfinite(diff) and math.isfinite(sd)):
        return float("nan")
    if diff == 0:
        return float("inf")
    c = 1 if paired else 2
    ratio = c * (sd / diff) ** 2
    z = st.norm.ppf(1 - (1 - level) / 2) + st.norm.ppf(power)
    n = max(2, math.ceil(ratio * z * z - 1e-9))     # the z-test's n; t quantiles only ever raise it
    while True:
        df = c * (n - 1)
        t = st.t.ppf(1 - (1 - level) / 2, df) + st.t.ppf(power, df)
        if n >= ratio * t * t - 1e-9:
            return float(n)
        n += 1
