"""The newer estimators (gd2po, rdpo, mo_grpo, rc_shrink, dvao_shrink): hand-worked cases, the property
that ties each to its parent, the shrinkage behaviour, RDPO's whitening and the optional state contract.
The loop-versus-vectorised checks are in tests/test_advantages_loop.py; the contract checks every
estimator shares (validation, NaN, constant groups) in tests/test_advantages.py.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch

from tests.test_advantages_loop import random_rewards
from workbench.advantages import get, is_stateful, names
from workbench.advantages.rdpo import whitened_weights

NAN = math.nan


def bernoulli_groups(seed: int, b: int, g: int, k: int, spread: bool = True) -> torch.Tensor:
    """(B, G, K) 0/1 rewards; each group has its own success rates (drawn once per group)."""
    gen = torch.Generator().manual_seed(seed)
    p = torch.rand(b, 1, k, generator=gen, dtype=torch.float64) if spread else torch.full((b, 1, k), 0.5,
                                                                                           dtype=torch.float64)
    return (torch.rand(b, g, k, generator=gen, dtype=torch.float64) < p).double()


# ---- registry -------------------------------------------------------------------------------------

def test_the_zoo_is_registered_and_only_dvao_shrink_carries_state():
    assert {"gd2po", "rdpo", "mo_grpo", "rc_shrink", "dvao_shrink"} <= set(names())
    assert [n for n in names() if is_stateful(n)] == ["dvao_shrink"]
    with pytest.raises(KeyError, match="valid names"):
        is_stateful("dvao_shrnk")


def test_mo_grpo_is_exactly_ac():
    """MO-GRPO sums each reward's group z-score: it is AC, registered as the same function object."""
    assert get("mo_grpo") is get("ac")
    r = random_rewards(5, 6, 7, 3, missing=0.1)
    assert torch.equal(get("mo_grpo")(r, [1, 1, 1]).advantages, get("ac")(r, [1, 1, 1]).advantages)


def test_mo_grpo_is_each_reward_standardised_in_its_group_then_summed():
    """The public MO-GRPO implementations: (r_k - group mean) / (Bessel group std + 1e-4), summed over
    the reward functions, nothing after. The alias with those options is that, written out here."""
    r = torch.rand(9, 5, 3, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    expected = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).sum(-1)
    torch.testing.assert_close(get("mo_grpo")(r, [1.0, 1.0, 1.0], std="bessel", eps=1e-4).advantages, expected)


# ---- GD2PO ----------------------------------------------------------------------------------------

# Group 0: r1 = (1, 0, 1, 0), r2 = (1, 1, 0, 0): z1 = (1, -1, 1, -1), z2 = (1, 1, -1, -1) (population std),
# so completions 1 and 2 have contributions (-.5, .5) and (.5, -.5): rho = 0, filtered; kept fraction 1/2.
# Group 1: both objectives (1, 0, 1, 0): no conflict, all kept, a = (1, -1, 1, -1).
CONFLICT = torch.tensor([[[1, 1], [0, 1], [1, 0], [0, 0]],
                         [[1, 1], [0, 0], [1, 1], [0, 0]]], dtype=torch.float64)


def test_gd2po_hand_worked_filter_and_kept_fraction():
    res = get("gd2po")(CONFLICT, [0.5, 0.5], eps=0.0)
    # group 0 scaled by 1/2: kept values {.5, -.5, 1, -1, 1, -1}: mean 0, population var 4.5 / 6 = .75
    sd = math.sqrt(0.75)
    expected = torch.tensor([[0.5, 0, 0, -0.5], [1, -1, 1, -1]], dtype=torch.float64) / sd
    torch.testing.assert_close(res.advantages, expected)
    assert float(res.diagnostics["kept_frac"]) == pytest.approx(6 / 8)
    unscaled = get("gd2po")(CONFLICT, [0.5, 0.5], eps=0.0, scale_by_kept=False).advantages
    torch.testing.assert_close(unscaled, torch.tensor([[1.0, 0, 0, -1], [1, -1, 1, -1]], dtype=torch.float64))


def test_gd2po_threshold_zero_is_gdpo_exactly():
    for seed in range(8):
        r = random_rewards(seed, 7, 3 + seed, 3, binary=seed % 2 == 0, missing=0.1 * (seed % 3))
        for std in ("population", "bessel"):
            a = get("gd2po")(r, [0.2, 0.3, 0.5], std=std, threshold=0.0).advantages
            assert torch.equal(a, get("gdpo")(r, [0.2, 0.3, 0.5], std=std).advantages)


def test_gd2po_threshold_one_drops_exactly_the_sign_conflicts():
    r = random_rewards(11, 40, 6, 3, binary=False, missing=0.0)[5:]          # no planted unscorable rows
    w = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    res = get("gd2po")(r, w, threshold=1.0, scale_by_kept=False)
    z = torch.stack([get("ac")(r[..., k:k + 1], [1.0]).advantages for k in range(3)], -1) * w   # w_k A_k
    conflict = (z > 0).any(-1) & (z < 0).any(-1)
    assert conflict.any() and (~conflict).any()
    assert (res.advantages[conflict] == 0).all() and (res.advantages[~conflict] != 0).all()


def test_gd2po_bad_threshold_raises():
    for bad in (-0.1, 1.5, "0.2", None):
        with pytest.raises(ValueError, match="threshold"):
            get("gd2po")(CONFLICT, [0.5, 0.5], threshold=bad)


# ---- rc_shrink ------------------------------------------------------------------------------------

# K = 1. Group 0 = (0, 1): mean .5, population var .25, noise var_bessel / n = .5 / 2 = .25.
# Group 1 = (1, 1): constant. mu_b = .75, V = (.25 + 0) / 2 = .125, S = (.0625 + .0625) / 2 = .0625,
# lam = .125 / .1875 = 2/3; baselines .5 + 2/3 * .25 and 1 - 2/3 * .25; vbar = .125;
# shrunk std: sqrt(.25 / 3 + 2/3 * .125) = sqrt(1/6) and sqrt(2/3 * .125) = sqrt(1/12).
TWO = torch.tensor([[[0.0], [1.0]], [[1.0], [1.0]]], dtype=torch.float64)


def test_rc_shrink_hand_worked_and_what_a_constant_group_gets():
    res = get("rc_shrink")(TWO, [1.0], eps=0.0)
    assert float(res.diagnostics["shrinkage"]) == pytest.approx(2 / 3)
    b0, b1 = 0.5 + 2 / 3 * 0.25, 1 - 2 / 3 * 0.25
    expected = torch.tensor([[(0 - b0) / math.sqrt(1 / 6), (1 - b0) / math.sqrt(1 / 6)],
                             [(1 - b1) / math.sqrt(1 / 12)] * 2], dtype=torch.float64)
    torch.testing.assert_close(res.advantages, expected)
    # the constant group (it did better than the batch) shares lam (m - mu_b) / sqrt(lam vbar) > 0
    lam, vbar = 2 / 3, 0.125
    assert float(res.advantages[1, 0]) == pytest.approx(lam * (1 - 0.75) / math.sqrt(lam * vbar))
    none = get("rc_shrink")(TWO, [1.0], scale="none").advantages
    torch.testing.assert_close(none, torch.tensor([[-b0, 1 - b0], [1 - b1, 1 - b1]], dtype=torch.float64))


def test_rc_shrink_zero_shrinkage_is_rc_and_grpo_nostd():
    for seed in range(6):
        r = random_rewards(seed, 6, 2 + seed, 2, binary=seed % 2 == 1, missing=0.1)
        for std in ("population", "bessel"):
            assert torch.equal(get("rc_shrink")(r, [0.4, 0.6], std=std, shrinkage=0).advantages,
                               get("rc")(r, [0.4, 0.6], std=std).advantages)
            torch.testing.assert_close(get("rc_shrink")(r, [0.4, 0.6], std=std, shrinkage=0, scale="none").advantages,
                                       get("grpo_nostd")(r, [0.4, 0.6], std=std).advantages, atol=1e-12, rtol=0)


def test_rc_shrink_full_shrinkage_centres_every_group_on_the_batch_mean():
    r = bernoulli_groups(3, 10, 4, 2)
    a = get("rc_shrink")(r, [0.5, 0.5], shrinkage=1.0, scale="none").advantages
    s = r.mean(-1)
    torch.testing.assert_close(a, s - s.mean(1).mean())


def test_rc_shrink_weight_falls_with_group_size_and_all_constant_gives_zeros():
    lam = {g: torch.stack([get("rc_shrink")(bernoulli_groups(seed, 32, g, 2), [0.5, 0.5]).diagnostics["shrinkage"]
                           for seed in range(5)]).mean() for g in (2, 4, 16, 64)}
    assert lam[2] > lam[4] > lam[16] > lam[64] and lam[64] < 0.1 and lam[2] > 0.3, lam
    constant = torch.tensor([[[0.0], [0.0]], [[1.0], [1.0]], [[0.5], [0.5]]])
    res = get("rc_shrink")(constant, [1.0])
    assert float(res.diagnostics["shrinkage"]) == 0 and (res.advantages == 0).all()


# ---- dvao_shrink ----------------------------------------------------------------------------------

# w = (.5, .5). Group 0: r1 = r2 = (0, 1); group 1: r1 = (1, 1), r2 = (0, 1); population variances
# v1 = (.25, 0), v2 = (.25, .25). Objective 1: vbar .125, noise 2 * .125^2 / 1 = .03125 per group,
# spread mean (v - vbar)^2 = .015625 < noise, so tau2 = 0 and lam = 1: both groups get sqrt(.125).
# Objective 2: every v = vbar = .25, tau2 = 0, lam = 1: .5. Denominator .5 sqrt(.125) + .5 * .5.
SMALL = torch.tensor([[[0, 0], [1, 1]], [[1, 0], [1, 1]]], dtype=torch.float64)


def test_dvao_shrink_hand_worked_small_groups():
    res = get("dvao_shrink")(SMALL, [0.5, 0.5], eps=0.0)
    den = 0.5 * math.sqrt(0.125) + 0.25
    torch.testing.assert_close(res.advantages, torch.tensor([[-0.5, 0.5], [-0.25, 0.25]], dtype=torch.float64) / den)
    torch.testing.assert_close(res.diagnostics["shrinkage"], torch.ones(2, dtype=torch.float64))
    # DVAO gives group 1 all its weight on objective 2 (objective 1 looked constant): +-1 in both groups
    torch.testing.assert_close(get("dvao")(SMALL, [0.5, 0.5], eps=0.0).advantages,
                               torch.tensor([[-1.0, 1.0], [-1.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(res.weights[1], torch.tensor([0.5 * math.sqrt(0.125), 0.25], dtype=torch.float64) / den)


def test_dvao_shrink_zero_shrinkage_is_dvao_exactly():
    for seed in range(8):
        r = random_rewards(seed, 7, 2 + seed, 3, binary=seed % 2 == 0, missing=0.1 * (seed % 3))
        for std in ("population", "bessel"):
            a, b = get("dvao_shrink")(r, [0.2, 0.3, 0.5], std=std, shrinkage=0), get("dvao")(r, [0.2, 0.3, 0.5], std=std)
            assert torch.equal(a.advantages, b.advantages) and torch.equal(a.weights, b.weights)


def test_dvao_shrink_turns_into_dvao_as_groups_grow():
    """Groups with different true success rates (so different variances): the EB weight falls like 1/G
    and at G = 4096 the advantages are DVAO's to within 1%; at G = 4 it shrinks hard."""
    lam, gap = {}, {}
    for g in (4, 64, 4096):
        r = bernoulli_groups(7, 24, g, 2)
        res, ref = get("dvao_shrink")(r, [0.5, 0.5]), get("dvao")(r, [0.5, 0.5])
        lam[g] = float(res.diagnostics["shrinkage"].mean())
        gap[g] = float((res.advantages - ref.advantages).abs().max() / ref.advantages.abs().max())
    assert lam[4] > 0.5 > lam[64] > lam[4096] and lam[4096] < 0.01, lam
    assert gap[4096] < 0.01 < gap[4], gap


def test_dvao_shrink_keeps_a_constant_objective_out_of_the_numerator():
    """An objective constant in a group adds nothing to the numerator (exact 0 where every objective is
    constant), and only the denominator borrows the batch's spread for it."""
    r = bernoulli_groups(1, 16, 4, 2)
    r[0] = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])   # objective 1 constant
    r[1] = 1.0                                                              # everything constant
    res = get("dvao_shrink")(r, [0.5, 0.5])
    assert (res.advantages[1] == 0).all() and float(res.weights[1].sum()) == pytest.approx(1.0)  # borrowed spread
    centred = r[0, :, 1] - r[0, :, 1].mean()
    assert torch.equal(torch.sign(res.advantages[0]), torch.sign(centred)) and res.weights[0, 0] > 0


def test_dvao_shrink_state_contract():
    r = bernoulli_groups(2, 8, 4, 2)
    first = get("dvao_shrink")(r, [0.5, 0.5], memory=0.9)
    assert set(first.state) == {"pooled_var", "between_var"} and first.state["pooled_var"].shape == (2,)
    again = get("dvao_shrink")(r, [0.5, 0.5], memory=0.9, state=first.state)
    torch.testing.assert_close(again.state["pooled_var"], first.state["pooled_var"])   # same batch: a fixed point
    other = get("dvao_shrink")(bernoulli_groups(3, 8, 4, 2), [0.5, 0.5], memory=0.9, state=first.state)
    fresh = get("dvao_shrink")(bernoulli_groups(3, 8, 4, 2), [0.5, 0.5], memory=0.9)
    assert not torch.equal(other.advantages, fresh.advantages)                       # the prior matters
    assert get("dvao_shrink")(r, [0.5, 0.5]).state is None                          # memory 0: stateless
    assert torch.equal(get("dvao_shrink")(r, [0.5, 0.5], state=first.state).advantages,
                       get("dvao_shrink")(r, [0.5, 0.5]).advantages)                 # and ignores it
    with pytest.raises(ValueError, match="another K"):
        get("dvao_shrink")(bernoulli_groups(2, 8, 4, 3), [1, 1, 1], memory=0.5, state=first.state)
    with pytest.raises(ValueError, match="state=None"):
        get("dvao_shrink")(r, [0.5, 0.5], memory=0.5, state={"pooled_var": first.state["pooled_var"]})
    for bad in (1.0, -0.1, "0.9"):
        with pytest.raises(ValueError, match="memory"):
            get("dvao_shrink")(r, [0.5, 0.5], memory=bad)
    with pytest.raises(ValueError, match="shrinkage"):
        get("dvao_shrink")(r, [0.5, 0.5], shrinkage=2)


# ---- RDPO -----------------------------------------------------------------------------------------

def test_rdpo_hand_worked_quantile_scores():
    """A lone success among four: mid-ranks (2, 2, 2, 4), quantiles (.375, .375, .375, .875), normal
    scores centred on their mean. The z-score would give +1.73 to the success; RDPO gives +1.10."""
    phi = NormalDist().inv_cdf
    raw = [phi(0.375)] * 3 + [phi(0.875)]
    centred = [x - sum(raw) / 4 for x in raw]
    r = torch.tensor([[[0.0], [0.0], [0.0], [1.0]]], dtype=torch.float64)
    torch.testing.assert_close(get("rdpo")(r, [1.0]).advantages, torch.tensor([centred], dtype=torch.float64))
    assert centred[3] == pytest.approx(1.1017, abs=1e-4)
    pair = get("rdpo")(torch.tensor([[[0.2], [0.9]]], dtype=torch.float64), [1.0]).advantages
    torch.testing.assert_close(pair, torch.tensor([[-phi(0.75), phi(0.75)]], dtype=torch.float64))


def test_rdpo_reduces_to_per_objective_normalisation_when_uncorrelated():
    """Scores orthogonal within every group (r1 = (0,0,1,1), r2 = (0,1,0,1) in shuffled orders): the
    pooled correlation is the identity and whitening changes nothing."""
    gen = torch.Generator().manual_seed(0)
    base = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    r = torch.stack([base[torch.randperm(4, generator=gen)] for _ in range(12)])
    r = r * torch.tensor([1.0, 0.3], dtype=torch.float64) + 0.1
    w = [0.7, 0.3]
    torch.testing.assert_close(get("rdpo")(r, w).advantages, get("rdpo")(r, w, whiten_active=False).advantages,
                               atol=1e-12, rtol=0)


def test_rdpo_whitening_decorrelates_the_pooled_scores():
    gen = torch.Generator().manual_seed(4)
    z = torch.randn(64, 8, 1, generator=gen, dtype=torch.float64)
    u = torch.cat([z + 0.3 * torch.randn(64, 8, 1, generator=gen, dtype=torch.float64),
                   -z + 0.5 * torch.randn(64, 8, 1, generator=gen, dtype=torch.float64),
                   torch.randn(64, 8, 1, generator=gen, dtype=torch.float64)], -1)
    u = u - u.mean(1, keepdim=True)
    active, counts = np.ones((64, 3), dtype=bool), np.full((64, 3), 8.0)
    scores = u.transpose(0, 1).numpy()                                      # (G, B, K)
    # weight e_k picks the whitened score of objective k: y_k = u @ v(e_k)
    y = torch.stack([u @ torch.from_numpy(whitened_weights(scores, active, counts, np.eye(3)[k])[0][0])
                     for k in range(3)], -1)
    cov = torch.einsum("bgk,bgl->kl", y, y)
    corr = cov / torch.outer(cov.diagonal().sqrt(), cov.diagonal().sqrt())
    torch.testing.assert_close(corr, torch.eye(3, dtype=torch.float64), atol=1e-9, rtol=0)
    before = torch.einsum("bgk,bgl->kl", u, u)
    assert before[0, 1] / (before[0, 0] * before[1, 1]).sqrt() < -0.7       # the input was correlated


def test_rdpo_is_invariant_to_monotone_reward_transforms_and_bounded():
    r = random_rewards(9, 10, 6, 2, missing=0.1)
    plain = get("rdpo")(r, [0.5, 0.5], magnitude_aware=False).advantages
    warped = torch.stack([r[..., 0] ** 3, 10 * r[..., 1] - 4], -1)
    torch.testing.assert_close(get("rdpo")(warped, [0.5, 0.5], magnitude_aware=False).advantages, plain)
    lone = torch.zeros(1, 16, 1, dtype=torch.float64)
    lone[0, 3] = 1.0
    assert float(get("rdpo")(lone, [1.0]).advantages.max()) < 2.0 < float(get("rc")(lone, [1.0]).advantages.max())


def test_rdpo_magnitude_scales_down_a_group_that_barely_varies():
    r = torch.tensor([[[0.0], [1.0], [0.0], [1.0]], [[0.50], [0.51], [0.50], [0.51]]], dtype=torch.float64)
    a = get("rdpo")(r, [1.0]).advantages
    assert float(a[1].abs().max()) < 0.05 * float(a[0].abs().max())
    torch.testing.assert_close(get("rdpo")(r, [1.0], magnitude_aware=False).advantages[1], a[0])


def test_rdpo_active_subspace_present_or_varying():
    """The paper's active subspace is the rewards a prompt has: with nothing missing every group is
    whitened by the same matrix, so a group whose objective 2 is constant still gets objective 1's
    whitened weight. "varying" whitens that group's objective 1 alone (the identity), and a group that
    lacks objective 2 altogether is whitened alone under both."""
    gen = torch.Generator().manual_seed(8)
    z = torch.randn(40, 6, 1, generator=gen, dtype=torch.float64)
    r = torch.cat([z + 0.3 * torch.randn(40, 6, 1, generator=gen, dtype=torch.float64),
                   z + 0.3 * torch.randn(40, 6, 1, generator=gen, dtype=torch.float64)], -1)
    r[0, :, 1] = 0.5                                     # objective 2 constant in group 0
    r[1, :, 1] = NAN                                     # objective 2 missing in group 1
    w, opts = [0.5, 0.5], {"magnitude_aware": False}
    present = get("rdpo")(r, w, **opts).advantages
    varying = get("rdpo")(r, w, active="varying", **opts).advantages
    plain = get("rdpo")(r, w, whiten_active=False, **opts).advantages    # w_k u_k, no whitening
    torch.testing.assert_close(varying[0], plain[0])                     # objective 1 alone: unchanged
    ratio = present[0] / plain[0]
    torch.testing.assert_close(ratio, ratio[:1].expand(6))               # one factor, the batch's v_1 / w_1
    assert float(ratio[0]) < 0.9                                         # objectives correlate: shrunk
    torch.testing.assert_close(present[1], plain[1])
    torch.testing.assert_close(varying[1], plain[1])
    assert not torch.allclose(present[2:], plain[2:])                    # the other groups are whitened
    with pytest.raises(ValueError, match="active"):
        get("rdpo")(r, w, active="all")


def test_rdpo_an_objective_constant_in_every_group_adds_nothing():
    """Present everywhere but never varying: its scores are 0, it correlates with nothing, and the
    whitening leaves the other objectives as they are (no 0/0 in the correlation)."""
    r = bernoulli_groups(5, 12, 6, 3)
    r[..., 1] = 1.0
    for active in ("present", "varying"):
        a = get("rdpo")(r, [0.3, 0.4, 0.3], active=active).advantages
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, get("rdpo")(r[..., [0, 2]], [0.3, 0.3], active=active).advantages)
