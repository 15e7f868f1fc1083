"""The DVAO paper's propositions as property tests over many random shapes (seeded loops, float64,
no missing rewards, eps = 0, population std unless said otherwise):

1. RC's group mean of A^2 is 1; AC's equals sum_{k,l} w_k w_l rho_kl and is at most 1 (convex w).
2. |A_DVAO| <= |A_RC| elementwise, and A_DVAO = (std_j s / sum_k w_k sigma_k) A_RC.
3. The autograd derivative of A[j] with respect to r[j, k] equals the closed forms for AC and DVAO.
Plus: DVAO's dynamic weights sum to 1 in every group where any objective varies.
"""
from __future__ import annotations

import pytest
import torch

from workbench.advantages import get


def shapes(seed: int, n: int, g_max: int = 64):
    """n random (rewards (B, G, K), convex weights (K,), binary?) cases, G in 2..g_max, K in 2..8."""
    gen = torch.Generator().manual_seed(seed)
    for i in range(n):
        b = int(torch.randint(1, 6, (1,), generator=gen))
        g = int(torch.randint(2, g_max + 1, (1,), generator=gen))
        k = int(torch.randint(2, 9, (1,), generator=gen))
        r = torch.rand(b, g, k, generator=gen, dtype=torch.float64)
        binary = i % 2 == 1
        if binary:
            r = (r < torch.rand(1, 1, k, generator=gen, dtype=torch.float64)).double()
        w = torch.rand(k, generator=gen, dtype=torch.float64) + 0.01
        yield r, w / w.sum(), binary


def varying(r: torch.Tensor) -> torch.Tensor:
    """(B,) True where every objective varies within the group."""
    return (r.amax(dim=1) > r.amin(dim=1)).all(dim=-1)


@pytest.mark.parametrize("std", ["population", "bessel"])
def test_proposition_1_rc_unit_second_moment(std):
    checked = 0
    for r, w, _ in shapes(11, 120):
        s = (r * w).sum(-1)
        spread = s.amax(1) > s.amin(1)
        a2 = get("rc")(r, w, std=std, eps=0.0).advantages.pow(2).mean(1)
        g = r.shape[1]
        expected = 1.0 if std == "population" else (g - 1) / g
        torch.testing.assert_close(a2[spread], torch.full_like(a2[spread], expected))
        assert (a2[~spread] == 0).all()
        checked += int(spread.sum())
    assert checked > 200


def test_proposition_1_ac_second_moment_is_the_weighted_correlation():
    checked = 0
    for r, w, _ in shapes(12, 120):
        a2 = get("ac")(r, w, eps=0.0).advantages.pow(2).mean(1)
        assert (a2 <= 1 + 1e-9).all()
        for i in torch.nonzero(varying(r)).flatten().tolist():
            rho = torch.corrcoef(r[i].T)
            torch.testing.assert_close(a2[i], w @ rho @ w)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("std", ["population", "bessel"])
def test_proposition_2_dvao_is_rc_shrunk_per_group(std):
    for r, w, _ in shapes(13, 150):
        rc = get("rc")(r, w, std=std, eps=0.0).advantages
        dv = get("dvao")(r, w, std=std, eps=0.0)
        assert (dv.advantages.abs() <= rc.abs() + 1e-9).all()
        s = (r * w).sum(-1)
        ddof = 0 if std == "population" else 1
        pooled = (dv.group_std * w).sum(-1)
        live = pooled > 0
        shrink = s.std(dim=1, correction=ddof)[live] / pooled[live]
        assert (shrink <= 1 + 1e-12).all()
        torch.testing.assert_close(dv.advantages[live], shrink[:, None] * rc[live])


def test_proposition_2_holds_with_equal_eps_too():
    for r, w, _ in shapes(14, 60):
        rc = get("rc")(r, w, eps=1e-4).advantages
        dv = get("dvao")(r, w, eps=1e-4).advantages
        assert (dv.abs() <= rc.abs() + 1e-9).all()


def test_dvao_dynamic_weights_sum_to_one_where_defined():
    for r, w, binary in shapes(15, 200):
        wt = get("dvao")(r, w).weights
        any_spread = (r.amax(dim=1) > r.amin(dim=1)).any(dim=-1)
        torch.testing.assert_close(wt.sum(-1)[any_spread], torch.ones(int(any_spread.sum()), dtype=r.dtype))
        assert (wt[~any_spread] == 0).all() and (wt >= 0).all()
        # weight 0 exactly for a constant objective, positive otherwise
        assert ((wt > 0) == (r.amax(dim=1) > r.amin(dim=1)) & any_spread[:, None]).all()


def own_reward_derivative(name: str, group: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """dA[j] / dr[j, k] by autograd for one group (G, K) -> (G, K)."""
    def f(x):
        return get(name)(x.unsqueeze(0), w, eps=0.0).advantages.squeeze(0)

    jac = torch.autograd.functional.jacobian(f, group, vectorize=True)  # (G, G, K)
    idx = torch.arange(group.shape[0])
    return jac[idx, idx]


def test_proposition_3_own_reward_derivatives():
    checked = 0
    for r, w, _ in shapes(16, 40, g_max=48):
        for i in torch.nonzero(varying(r)).flatten().tolist()[:2]:
            group = r[i]
            g = group.shape[0]
            mu, sigma = group.mean(0), group.std(0, correction=0)
            a_k = (group - mu) / sigma                                      # (G, K)
            expected_ac = (w / sigma) * (1 - 1 / g - a_k.pow(2) / g)
            torch.testing.assert_close(own_reward_derivative("ac", group, w), expected_ac)

            w_dyn = w * sigma / (w * sigma).sum()
            a_dv = a_k @ w_dyn
            expected_dv = (w_dyn / sigma) * (1 - 1 / g - a_dv[:, None] * a_k / g)
            torch.testing.assert_close(own_reward_derivative("dvao", group, w), expected_dv)
            # the coupling is real: DVAO's derivative differs from AC's form with w~ in place of w
            if g > 2:
                assert not torch.allclose(expected_dv, (w_dyn / sigma) * (1 - 1 / g - a_k.pow(2) / g))
            checked += 1
    assert checked > 30
