"""The exact Pareto front of a bandit's achievable expected rewards, and where a policy stands against it.

A stochastic policy mixes candidates in each context, so the expected reward vectors it can reach in
context c form conv(means[c]) and, averaged over the C contexts, the achievable set is the Minkowski
average  A = (1/C) sum_c conv(means[c])  (a convex polytope). Everything below is exact on that set:

* support point x(w) = (1/C) sum_c means[c, argmax_n w . means[c, n]]: the best achievable point for
  weights w > 0, and h(w) = w . x(w) (the support function). A policy's ``regret`` for its own base
  weights is h(w) - w . x with w normalised to sum to 1 (reward units; 0 = optimal).
* ``front_distance(x)``: the largest t such that x + t * 1 is still achievable, i.e. how much *every*
  objective could improve at once (the additive epsilon indicator; 0 on the front). Solved as an LP.
* Reference point: ref_k = (1/C) sum_c min_n means[c, n, k], the lowest achievable value of objective k
  (always picking the worst candidate for k). Every achievable point is >= ref, so every box is non-empty.
* ``hv_frac``: the hypervolume of the policy's point, prod_k (x_k - ref_k), as a fraction of the largest
  hypervolume any achievable point has (the "Nash" point maximising sum_k log(x_k - ref_k), found by
  Frank-Wolfe with a duality-gap certificate, exact in closed form for K = 2). 1 means no single policy
  covers more of objective space.
* For K = 2 the whole front is enumerated exactly (``front_2d``, by merging the contexts' edges) and so is the hypervolume of the
  achievable set (``hypervolume_2d``): analysis of weight sweeps divides by it.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _np(means) -> np.ndarray:
    m = means.detach().cpu().numpy() if isinstance(means, torch.Tensor) else np.asarray(means)
    m = m.astype(np.float64)
    if m.ndim != 3:
        raise ValueError(f"means must have shape (C, N, K), got {m.shape}")
    return m


def support(means, w) -> np.ndarray:
    """Support points x(w) for weight rows ``w`` (M, K) (or one (K,)), shape (M, K) (or (K,))."""
    m = _np(means)
    w = np.asarray(w, dtype=np.float64)
    single = w.ndim == 1
    w = np.atleast_2d(w)
    scores = np.einsum("cnk,mk->mcn", m, w)                       # (M, C, N)
    best = scores.argmax(-1)                                      # (M, C)
    pts = m[np.arange(m.shape[0])[None, :], best].mean(1)          # (M, K)
    return pts[0] if single else pts


def reference_point(means) -> np.ndarray:
    """ref_k = the lowest achievable expected reward of objective k, shape (K,)."""
    return _np(means).min(1).mean(0)


def ideal_point(means) -> np.ndarray:
    """The best achievable value of each objective on its own, shape (K,)."""
    return _np(means).max(1).mean(0)


def regret(means, x, weights) -> float:
    """h(w) - w . x for weights normalised to sum to 1: the scalarised gap to the optimum (>= 0)."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    return float(w @ support(means, w) - w @ np.asarray(x, dtype=np.float64))


def front_distance(means, x) -> float:
    """max t such that x + t*1 is achievable (an LP over per-context mixtures); 0 on the front, > 0 below it.

    Variables: the policy pi (C, N) and t. Maximise t s.t. (1/C) sum_{c,n} pi[c,n] means[c,n,k] >= x_k + t,
    sum_n pi[c, n] = 1, pi >= 0. A point outside the achievable set gets a negative t.
    """
    from scipy.optimize import linprog
    from scipy.sparse import csr_matrix, hstack, kron, eye

    m = _np(means)
    c_, n_, k_ = m.shape
    x = np.asarray(x, dtype=np.float64)
    obj = np.zeros(c_ * n_ + 1)
    obj[-1] = -1.0
    a_ub = np.hstack([-m.reshape(c_ * n_, k_).T / c_, np.ones((k_, 1))])     # -(mix)_k + t <= -x_k
    a_eq = hstack([kron(eye(c_), np.ones((1, n_))), csr_matrix((c_, 1))])
    bounds = [(0, None)] * (c_ * n_) + [(None, None)]
    res = linprog(obj, A_ub=a_ub, b_ub=-x, A_eq=a_eq, b_eq=np.ones(c_), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"front_distance LP failed: {res.message}")
    return float(res.x[-1])


def _chain_2d(points: np.ndarray) -> np.ndarray:
    """One context's Pareto-front vertices in 2D (the upper-right convex chain), x ascending, y descending."""
    p = points[np.lexsort((-points[:, 1], -points[:, 0]))]          # x descending, ties: y descending
    best_y = np.maximum.accumulate(np.concatenate([[-np.inf], p[:-1, 1]]))
    p = p[p[:, 1] > best_y][::-1]                                   # Pareto points, x ascending
    hull: list[np.ndarray] = []
    for q in p:                                                     # keep only strictly concave turns
        while len(hull) >= 2:
            u, v = hull[-1] - hull[-2], q - hull[-2]
            if u[0] * v[1] - u[1] * v[0] < 0:
                break
            hull.pop()
        hull.append(q)
    return np.array(hull)


def front_2d(means) -> np.ndarray:
    """Every vertex of the exact Pareto front for K = 2, shape (V, 2), objective 1 ascending.

    The front of a Minkowski average of convex polygons starts at the average of each context's
    top-left front vertex and walks every context's front edges (scaled 1/C) in order of slope.
    """
    m = _np(means)
    if m.shape[2] != 2:
        raise ValueError(f"front_2d needs K = 2, got K = {m.shape[2]}")
    chains = [_chain_2d(ctx) for ctx in m]
    start = np.mean([ch[0] for ch in chains], axis=0)
    edges = np.concatenate([np.diff(ch, axis=0) for ch in chains]) / len(chains)
    edges = edges[np.argsort(-(edges[:, 1] / edges[:, 0]), kind="stable")]   # flattest first
    return np.vstack([start, start + np.cumsum(edges, axis=0)])


def hypervolume_2d(vertices: np.ndarray, ref: np.ndarray) -> float:
    """Exact area dominated by the piecewise-linear front through ``vertices`` (sorted by x) above ``ref``."""
    v = np.asarray(vertices, dtype=np.float64) - np.asarray(ref, dtype=np.float64)
    if (v < -1e-12).any():
        raise ValueError("every vertex must dominate the reference point")
    area = v[0, 0] * v[0, 1]
    area += float(np.sum(np.diff(v[:, 0]) * (v[1:, 1] + v[:-1, 1]) / 2))
    return float(area)


def _nash_2d(vertices: np.ndarray, ref: np.ndarray) -> float:
    """max (x - r1)(y - r2) over the polyline: a concave quadratic on each edge, maximised in closed form."""
    v = vertices - ref
    best = float(np.max(v[:, 0] * v[:, 1]))
    for a, b in zip(v[:-1], v[1:]):
        d = b - a                                                 # f(l) = (a0 + l d0)(a1 + l d1)
        qa, qb = d[0] * d[1], a[0] * d[1] + a[1] * d[0]
        if qa < 0:
            lam = min(max(-qb / (2 * qa), 0.0), 1.0)
            best = max(best, float((a[0] + lam * d[0]) * (a[1] + lam * d[1])))
    return best


def max_point_hypervolume(means, ref=None, iters: int = 4000, tol: float = 1e-7,
                          vertices: np.ndarray | None = None) -> tuple[float, float]:
    """The largest prod_k (x_k - ref_k) over achievable x, and a certified upper bound on it.

    K = 2: exact (closed form on the exact front; pass ``vertices`` from ``front_2d`` to reuse them). K > 2: Frank-Wolfe on sum_k log(x_k - ref_k) with an
    exact line search; the dual value at w = 1/(x - ref), h(w) - w.ref - sum log w - K, bounds the optimum
    from above, and iteration stops once the gap is below ``tol`` (in log units).
    """
    m = _np(means)
    ref = reference_point(m) if ref is None else np.asarray(ref, dtype=np.float64)
    if m.shape[2] == 2:
        value = _nash_2d(front_2d(m) if vertices is None else vertices, ref)
        return value, value
    x = m.mean(1).mean(0)                                         # the uniform policy: interior point
    if np.any(x <= ref):
        raise ValueError("the uniform policy does not dominate the reference point; choose a lower ref")
    upper = math.inf
    for _ in range(iters):
        w = 1.0 / (x - ref)
        s = support(m, w)
        dual = float(w @ s - w @ ref - np.log(w).sum() - len(w))
        upper = min(upper, dual)
        primal = float(np.log(x - ref).sum())
        if upper - primal < tol:
            break
        d = s - x                                                 # exact line search: derivative is decreasing
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if float(np.sum(d / (x + mid * d - ref))) > 0 else (lo, mid)
        x = x + lo * d
    return float(np.exp(np.log(x - ref).sum())), float(np.exp(upper))


def point_hypervolume(x, ref) -> float:
    """The hypervolume of one point: prod_k max(x_k - ref_k, 0)."""
    return float(np.prod(np.clip(np.asarray(x, dtype=np.float64) - ref, 0.0, None)))
