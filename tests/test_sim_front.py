"""The bandit's exact Pareto front (workbench/sim/front.py) on hand-made candidate sets and against brute force."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.sim import front as F
from workbench.sim.env import BanditSpec, make_bandit

SEGMENT = np.array([[[1.0, 0.0], [0.0, 1.0], [0.2, 0.2]]])       # one context; (0.2, 0.2) is dominated
TWO = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])


def brute_front_2d(means: np.ndarray, n: int = 20001) -> np.ndarray:
    """Support points on a fine angle grid: every vertex shows up once the grid is fine enough."""
    theta = np.linspace(1e-9, np.pi / 2 - 1e-9, n)
    pts = F.support(means, np.stack([np.cos(theta), np.sin(theta)], 1))
    return np.unique(np.round(pts, 9), axis=0)


def test_segment_front_hypervolume_and_nash_point():
    v = F.front_2d(SEGMENT)
    np.testing.assert_allclose(v, [[0, 1], [1, 0]])
    ref = F.reference_point(SEGMENT)
    np.testing.assert_allclose(ref, [0, 0])
    assert F.hypervolume_2d(v, ref) == pytest.approx(0.5)               # the triangle x + y <= 1
    assert F.max_point_hypervolume(SEGMENT)[0] == pytest.approx(0.25)   # (0.5, 0.5)


def test_minkowski_average_of_two_contexts():
    v = F.front_2d(TWO)
    np.testing.assert_allclose(v, [[0.5, 1.0], [1.0, 0.5]])
    ref = F.reference_point(TWO)
    np.testing.assert_allclose(ref, [0.5, 0.5])
    assert F.hypervolume_2d(v, ref) == pytest.approx(0.125)
    assert F.front_distance(TWO, [0.5, 0.5]) == pytest.approx(0.25)   # (0.75, 0.75) is on the front
    assert F.front_distance(TWO, [0.75, 0.75]) == pytest.approx(0.0, abs=1e-9)
    assert F.front_distance(TWO, [1.0, 1.0]) == pytest.approx(-0.25)  # outside: negative
    assert F.regret(TWO, [0.75, 0.75], [1, 1]) == pytest.approx(0.0, abs=1e-12)
    assert F.regret(TWO, [0.5, 0.5], [1, 1]) == pytest.approx(0.25)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_front_2d_matches_brute_force_and_is_nondominated(seed):
    means = make_bandit(BanditSpec(K=2, contexts=12, candidates=5), seed).means.numpy()
    exact = F.front_2d(means)
    brute = brute_front_2d(means)
    # every brute-force support point is an exact vertex and vice versa
    assert len(exact) == len(brute)
    np.testing.assert_allclose(exact[np.argsort(exact[:, 0])], brute[np.argsort(brute[:, 0])], atol=1e-9)
    assert np.all(np.diff(exact[:, 0]) > 0) and np.all(np.diff(exact[:, 1]) < 0)
    for p in exact:                                                   # every vertex lies on the front
        assert F.front_distance(means, p) == pytest.approx(0.0, abs=1e-7)


def test_hypervolume_2d_matches_monte_carlo():
    means = make_bandit(BanditSpec(K=2, contexts=8, candidates=4), 3).means.numpy()
    v, ref = F.front_2d(means), F.reference_point(means)
    rng = np.random.default_rng(0)
    hi = v.max(0)
    y = ref + rng.random((200_000, 2)) * (hi - ref)
    # y is dominated iff it lies under the piecewise-linear front
    inside = y[:, 1] <= np.interp(y[:, 0], v[:, 0], v[:, 1], left=v[0, 1], right=-np.inf)
    assert F.hypervolume_2d(v, ref) == pytest.approx(inside.mean() * np.prod(hi - ref), rel=0.01)


def test_simplex_nash_point_k3_by_frank_wolfe():
    simplex = np.eye(3)[None]                                         # one context, candidates e1, e2, e3
    value, upper = F.max_point_hypervolume(simplex, ref=np.zeros(3))
    assert value == pytest.approx(1 / 27, rel=1e-5)                   # x = (1/3, 1/3, 1/3)
    assert value <= upper <= value * (1 + 1e-5)


@pytest.mark.parametrize("k", [3, 5])
def test_frank_wolfe_is_certified_and_beats_every_sampled_point(k):
    means = make_bandit(BanditSpec(K=k, contexts=32, candidates=6), 0).means.numpy()
    ref = F.reference_point(means)
    value, upper = F.max_point_hypervolume(means, ref)
    assert value <= upper <= value * (1 + 1e-4)
    w = np.random.default_rng(0).dirichlet(np.ones(k), size=2000)
    pts = F.support(means, w)                                          # achievable points
    assert np.prod(pts - ref, axis=1).max() <= value * (1 + 1e-9)


def test_front_distance_of_support_points_is_zero_in_k4():
    means = make_bandit(BanditSpec(K=4, contexts=16, candidates=5), 1).means.numpy()
    for w in np.random.default_rng(1).dirichlet(np.ones(4), size=3):
        assert F.front_distance(means, F.support(means, w)) == pytest.approx(0.0, abs=1e-7)
    uniform = means.mean(1).mean(0)
    assert F.front_distance(means, uniform) > 0.01


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\(C, N, K\)"):
        F.support(np.zeros((3, 2)), np.ones(2))
    with pytest.raises(ValueError, match="K = 2"):
        F.front_2d(np.zeros((1, 3, 3)))
