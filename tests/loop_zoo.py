"""Plain per-group Python references of the newer estimators (gd2po, rc_shrink, dvao_shrink, rdpo),
written from the formulas in their module docstrings, with lists, ``statistics.NormalDist`` and a
K x K numpy eigendecomposition only. tests/test_advantages_loop.py compares them with the tensor code.

Each returns (advantages (B, G), effective weights (B, K) or None for the base weights) as lists;
rewards is a nested list (B, G, K) with NaN for missing.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def column(group, k):
    return [None if math.isnan(row[k]) else row[k] for row in group]


def stats(values, ddof):
    """(mean, std, constant, n) of a list with None for missing."""
    xs = [v for v in values if v is not None]
    if len(xs) < 2 or max(xs) == min(xs):
        return (sum(xs) / len(xs) if xs else 0.0), 0.0, True, len(xs)
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - ddof)), False, len(xs)


def scalar(group, w):
    out = []
    for row in group:
        present = [(wk, x) for wk, x in zip(w, row) if not math.isnan(x)]
        out.append(sum(wk * x for wk, x in present) if present else None)
    return out


def mean_of(xs):
    return sum(xs) / len(xs) if xs else 0.0


def batch_zscore(values, keep, ddof, eps):
    """z-score of values over the entries where keep is True (a list of lists); 0 elsewhere."""
    flat = [v for row, ok in zip(values, keep) for v, o in zip(row, ok) if o]
    m, sd, const, _ = stats(flat, ddof)
    return [[(v - m) / (sd + eps) if o and not const else 0.0 for v, o in zip(row, ok)]
            for row, ok in zip(values, keep)]


def gd2po(rewards, w, ddof, eps, threshold=0.2, scale_by_kept=True):
    adv, keep = [], []
    for group in rewards:
        cols = [column(group, k) for k in range(len(w))]
        zs = []
        for c in cols:
            m, sd, const, _ = stats(c, ddof)
            zs.append([0.0 if v is None or const else (v - m) / (sd + eps) for v in c])
        contrib = [[w[k] * zs[k][j] for k in range(len(w))] for j in range(len(group))]
        scorable = [any(not math.isnan(x) for x in row) for row in group]
        kept = [ok and not abs(sum(c)) < threshold * sum(abs(x) for x in c) for c, ok in zip(contrib, scorable)]
        frac = sum(kept) / max(sum(scorable), 1) if scale_by_kept else 1.0
        adv.append([sum(c) * frac for c in contrib])
        keep.append(kept)
    return batch_zscore(adv, keep, ddof, eps), None


def rc_shrink(rewards, w, ddof, eps, shrinkage=None, scale="group"):
    sc = [scalar(group, w) for group in rewards]
    st = [stats(s, ddof) for s in sc]
    var = [sd ** 2 for _, sd, _, _ in st]
    means = [m for m, _, _, n in st if n >= 1]
    batch_mean = mean_of(means)
    if shrinkage is None:
        noise = []
        for s, (m, _, _, n) in zip(sc, st):
            if n >= 2:
                xs = [v for v in s if v is not None]
                noise.append(sum((x - m) ** 2 for x in xs) / (n - 1) / n)
        v2 = mean_of(noise)
        s2 = mean_of([(m - batch_mean) ** 2 for m in means])
        lam = v2 / (v2 + s2) if v2 + s2 > 0 else 0.0
    else:
        lam = shrinkage
    pooled = mean_of([v for v, (_, _, _, n) in zip(var, st) if n >= 2])
    adv = []
    for s, (m, sd, const, n), v in zip(sc, st, var):
        base = (1 - lam) * m + lam * batch_mean
        if scale == "none":
            adv.append([0.0 if x is None else x - base for x in s])
            continue
        if lam == 0:
            denom = (1.0 if const else sd) + eps
        else:
            shrunk = math.sqrt(max((1 - lam) * v + lam * pooled, 0.0))
            denom = (shrunk if shrunk > 0 else 1.0) + eps
        adv.append([0.0 if x is None else (x - base) / denom for x in s])
    return adv, None


def dvao_shrink(rewards, w, ddof, eps, shrinkage=None, memory=0.0, state=None):
    """Also returns the next state as a third value."""
    k_count = len(w)
    per = [[stats(column(group, k), ddof) for k in range(k_count)] for group in rewards]
    vbar, tau2, noise_of = [], [], []
    for k in range(k_count):
        rows = [(sd ** 2, n) for g in per for (_, sd, _, n) in [g[k]] if n >= 2]
        vb = mean_of([v for v, _ in rows])
        tot = mean_of([(v - vb) ** 2 for v, _ in rows])
        t2 = max(tot - mean_of([2 * vb ** 2 / (n - 1) for _, n in rows]), 0.0)
        if memory > 0 and state is not None:
            vb = memory * state[0][k] + (1 - memory) * vb
            t2 = memory * state[1][k] + (1 - memory) * t2
        vbar.append(vb)
        tau2.append(t2)
    adv, eff = [], []
    for group, g in zip(rewards, per):
        sig = []
        for k, (_, sd, _, n) in enumerate(g):
            if n < 2:
                sig.append(0.0)
                continue
            if shrinkage is None:
                noise = 2 * vbar[k] ** 2 / (n - 1)
                lam = noise / (noise + tau2[k]) if noise + tau2[k] > 0 else 0.0
            else:
                lam = shrinkage
            sig.append(math.sqrt(max((1 - lam) * sd ** 2 + lam * vbar[k], 0.0)))
        pooled = sum(wk * s for wk, s in zip(w, sig))
        cols = [column(group, k) for k in range(k_count)]
        num = [sum(w[k] * (cols[k][j] - g[k][0]) for k in range(k_count)
                   if cols[k][j] is not None and not g[k][2]) for j in range(len(group))]
        adv.append([x / (pooled + eps) if pooled > 0 else 0.0 for x in num])
        eff.append([wk * s / pooled if pooled > 0 else 0.0 for wk, s in zip(w, sig)])
    return adv, eff, ((vbar, tau2) if memory > 0 else None)


def rdpo(rewards, w, ddof, eps, magnitude_aware=True, whiten_active=True, active="present"):
    k_count, normal, mode = len(w), NormalDist(), active
    scores, active, present = [], [], []
    for group in rewards:
        per_k = []
        for k in range(k_count):
            c = column(group, k)
            xs = [v for v in c if v is not None]
            n = len(xs)
            u = [None if v is None else normal.inv_cdf(((sum(x < v for x in xs) + (sum(x == v for x in xs) + 1) / 2)
                                                        - 0.5) / n) for v in c]
            m = mean_of([x for x in u if x is not None])
            per_k.append([0.0 if x is None else x - m for x in u])
        scores.append(per_k)
        if mode == "present":   # the objectives with a reward in the group
            active.append([stats(column(group, k), ddof)[3] >= 1 for k in range(k_count)])
        else:                   # only those that vary in it
            active.append([not stats(column(group, k), ddof)[2] for k in range(k_count)])
        present.append([stats(column(group, k), ddof)[3] for k in range(k_count)])
    if magnitude_aware:
        for k in range(k_count):
            sds = [stats(column(group, k), ddof)[1] for group in rewards]
            pooled = math.sqrt(mean_of([sd ** 2 for sd, n in zip(sds, [p[k] for p in present]) if n >= 2]))
            for i, sd in enumerate(sds):
                factor = min(1.0, sd / pooled) if pooled > 0 else 0.0
                scores[i][k] = [x * factor for x in scores[i][k]]
    if whiten_active and k_count > 1:
        ss = lambda i, k, l: sum(a * b for a, b in zip(scores[i][k], scores[i][l]))  # noqa: E731
        corr, scale = np.eye(k_count), np.ones(k_count)
        for k in range(k_count):
            for l in range(k_count):
                both = [i for i in range(len(rewards)) if active[i][k] and active[i][l]]
                num = sum(ss(i, k, l) for i in both)
                den = math.sqrt(sum(ss(i, k, k) for i in both) * sum(ss(i, l, l) for i in both))
                corr[k, l] = num / den if den > 0 else 0.0
            act = [i for i in range(len(rewards)) if active[i][k]]
            rms = math.sqrt(sum(ss(i, k, k) for i in act) / max(sum(present[i][k] for i in act), 1))
            scale[k] = rms if rms > 0 else 1.0
        for i in range(len(rewards)):
            a = np.array(active[i], dtype=float)
            sub = corr * np.outer(a, a) + np.diag(1 - a)
            evals, evecs = np.linalg.eigh(sub)
            inv_sqrt = evecs @ np.diag(1 / np.sqrt(np.maximum(evals, 1e-3))) @ evecs.T
            x = np.array(scores[i]).T / scale                        # (G, K)
            scores[i] = ((x @ inv_sqrt.T) * scale).T.tolist()
    adv = [[sum(w[k] * scores[i][k][j] for k in range(k_count)) for j in range(len(rewards[i]))]
           for i in range(len(rewards))]
    return adv, None
