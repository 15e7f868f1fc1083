"""analysis.attainment: moocore's EAF and EAF difference checked against counting, by brute force, which seeds
reach a query point (every axis maximised)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import attainment


def reached_by(points, sets, q) -> dict:
    """seed -> True when some point of that seed is >= q on both axes."""
    return {s: bool(((points[sets == s] >= q).all(axis=1)).any()) for s in np.unique(sets)}


def weakly_dominated(q, front) -> bool:
    return bool(len(front)) and bool((front >= q).all(axis=1).any())


@pytest.mark.parametrize("seed", range(4))
def test_surfaces_bound_what_1_half_and_all_seeds_reach(seed):
    rng = np.random.default_rng(seed)
    n_sets = 3 + seed
    sets = rng.permutation(np.repeat(np.arange(10, 10 + n_sets), 4))   # interleaved ids (moocore wants blocks)
    points = rng.random((len(sets), 2)).round(2)
    surf = attainment.surfaces(points, sets)
    for q in rng.random((300, 2)):
        count = sum(reached_by(points, sets, q).values())
        assert weakly_dominated(q, surf["best"]) == (count >= 1)
        assert weakly_dominated(q, surf["worst"]) == (count == n_sets)
        assert weakly_dominated(q, surf["median"]) == (count >= n_sets / 2)


def runs_of(method, points, sets):
    return pd.DataFrame({"method": method, "seed": sets, "x": points[:, 0], "y": points[:, 1]})


def in_rectangle(q, rects):
    lo = np.minimum(rects[:, [0, 1]], rects[:, [2, 3]])
    hi = np.maximum(rects[:, [0, 1]], rects[:, [2, 3]])
    return ((q > lo) & (q < hi)).all(axis=1)


@pytest.mark.parametrize("n_a, n_b", [(4, 4), (3, 5)])
def test_eaf_difference_is_the_share_of_a_minus_the_share_of_b(n_a, n_b):
    rng = np.random.default_rng(n_a * 10 + n_b)
    sets_a, sets_b = np.repeat(np.arange(n_a), 3), np.repeat(np.arange(n_b), 3)
    a = runs_of("a", rng.random((len(sets_a), 2)), sets_a)
    b = runs_of("b", rng.random((len(sets_b), 2)) * 0.8, sets_b)
    rects, n = attainment.difference(a, b, ["x", "y"])
    assert n == min(n_a, n_b)                      # seeds 0..n-1 are shared and compared
    a, b = a[a.seed < n], b[b.seed < n]
    checked = 0
    for q in rng.random((400, 2)):
        share = lambda r: np.mean(list(reached_by(r[["x", "y"]].to_numpy(), r.seed.to_numpy(), q).values()))  # noqa: E731
        expected = share(a) - share(b)
        inside = in_rectangle(q, rects)
        if inside.any():
            assert np.allclose(rects[inside, 4], expected), (q, rects[inside, 4], expected)
            checked += 1
        else:
            assert expected == 0, q
    assert checked > 50


def test_identical_methods_have_no_eaf_difference():
    rng = np.random.default_rng(0)
    sets = np.repeat(np.arange(4), 3)
    pts = rng.random((12, 2))
    rects, n = attainment.difference(runs_of("a", pts, sets), runs_of("b", pts, sets), ["x", "y"])
    assert n == 4 and np.all(rects[:, 4] == 0)


def test_staircase_reaches_the_axes():
    xs, ys = attainment.staircase(np.array([[0.8, 0.2], [0.2, 0.8]]), lower=np.zeros(2))
    assert list(zip(xs, ys)) == [(0, 0.8), (0.2, 0.8), (0.2, 0.2), (0.8, 0.2), (0.8, 0)]
