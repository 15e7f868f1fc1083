"""Loop versus vectorised: a plain per-group Python implementation of every estimator, written
straight from REFERENCE.md's formulas with the missing-data rules of issue 2 (tests/loop_zoo.py for
the newer estimators, from their docstrings), must agree with the registered tensor code on random batches (binary and continuous rewards, missing entries,
unscorable completions, constant objectives, single present values), for every option.

``random_rewards`` is also the batch generator of the TRL-oracle tests.
"""
from __future__ import annotations

import math

import pytest
import torch

from tests import loop_zoo
from workbench import advantages

NAN = math.nan


def random_rewards(seed: int, b: int, g: int, k: int, binary: bool = False, missing: float = 0.1,
                   dtype: torch.dtype = torch.float64, constant: float = 0.1) -> torch.Tensor:
    """(B, G, K) rewards with every awkward case planted when B allows it.

    Random NaNs at rate ``missing``; group 0: completion 0 unscorable; group 1: objective 0 has one
    present value; group 2: objective K-1 constant at ``constant`` (0.1: a float mean that is not
    exact); group 3: all missing.
    """
    gen = torch.Generator().manual_seed(seed)
    r = torch.rand(b, g, k, generator=gen, dtype=torch.float64)
    if binary:
        r = (r < 0.5).to(torch.float64)
    r[torch.rand(b, g, k, generator=gen, dtype=torch.float64) < missing] = NAN
    planted = [(0, lambda x: x[0].fill_(NAN)),
               (1, lambda x: (x[1:, 0].fill_(NAN), x[0, 0].fill_(0.7))),
               (2, lambda x: x[:, k - 1].fill_(constant)),
               (3, lambda x: x.fill_(NAN))]
    for i, plant in planted:
        if b > i + 1:
            plant(r[i])
    return r.to(dtype)


# ---- the loop reference ---------------------------------------------------------------------------

def _stats(values, ddof):
    """Mean, std and constancy of a list with None for missing: (mean, std, constant)."""
    xs = [v for v in values if v is not None]
    if len(xs) < 2 or max(xs) == min(xs):
        return (sum(xs) / len(xs) if xs else 0.0), 0.0, True
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - ddof)), False


def _z(values, ddof, eps):
    m, s, const = _stats(values, ddof)
    return [0.0 if (v is None or const) else (v - m) / (s + eps) for v in values]


ZOO = {"gd2po": loop_zoo.gd2po, "rc_shrink": loop_zoo.rc_shrink, "rdpo": loop_zoo.rdpo,
       "dvao_shrink": lambda *a, **o: loop_zoo.dvao_shrink(*a, **o)[:2]}


def loop_estimator(name, rewards, w, std="population", eps=1e-6, **opt):
    """Advantages (B, G), per-objective (mean, std) (B, K) and effective weights (B, K) as lists."""
    ddof = 0 if std == "population" else 1
    name = "ac" if name == "mo_grpo" else name          # an alias (workbench/advantages/mo_grpo.py)
    if name in ZOO:
        _, means, stds, eff = loop_estimator("ac", rewards, w, std, eps)
        adv, dynamic = ZOO[name](rewards.tolist(), list(w), ddof, eps, **opt)
        return adv, means, stds, (eff if dynamic is None else dynamic)
    adv, means, stds, eff = [], [], [], []
    for group in rewards.tolist():
        cols = [loop_zoo.column(group, k) for k in range(len(w))]
        st = [_stats(c, ddof) for c in cols]
        means.append([m for m, _, _ in st])
        stds.append([s for _, s, _ in st])
        eff.append(list(w))
        if name in ("rc", "grpo_nostd"):
            s = loop_zoo.scalar(group, w)
            m, sd, const = _stats(s, ddof)
            if name == "grpo_nostd":
                adv.append([0.0 if v is None or const else v - m for v in s])
            else:
                adv.append(_z(s, ddof, eps) if opt.get("scale", "group") == "group"
                           else [0.0 if v is None or const else v - m for v in s])
        elif name in ("ac", "gdpo"):
            zs = [_z(c, ddof, eps) for c in cols]
            adv.append([sum(w[k] * zs[k][j] for k in range(len(w))) for j in range(len(group))])
        elif name == "dvao":
            pooled = sum(wk * s for wk, (_, s, _) in zip(w, st))
            eff[-1] = [wk * s / pooled if pooled > 0 else 0.0 for wk, (_, s, _) in zip(w, st)]
            num = [sum(w[k] * (cols[k][j] - st[k][0]) for k in range(len(w))
                       if cols[k][j] is not None and not st[k][2]) for j in range(len(group))]
            adv.append([x / (pooled + eps) if pooled > 0 else 0.0 for x in num])
    scorable = [[any(not math.isnan(x) for x in row) for row in group] for group in rewards.tolist()]
    if (name == "gdpo" and opt.get("batch_norm", True)) or (name == "rc" and opt.get("scale") == "batch"):
        src = adv if name == "gdpo" else [loop_zoo.scalar(group, w) for group in rewards.tolist()]
        flat = [v for a_row, ok_row in zip(src, scorable) for v, ok in zip(a_row, ok_row) if ok]
        m, sd, const = _stats(flat, ddof)
        if name == "gdpo":
            adv = [[(a - m) / (sd + eps) if ok and not const else 0.0 for a, ok in zip(a_row, ok_row)]
                   for a_row, ok_row in zip(adv, scorable)]
        else:
            denom = (1.0 if const else sd) + eps
            adv = [[a / denom for a in row] for row in adv]
    return adv, means, stds, eff


# ---- the comparisons ------------------------------------------------------------------------------

CASES = [("rc", {}), ("rc", {"scale": "batch"}), ("ac", {}), ("gdpo", {}), ("gdpo", {"batch_norm": False}),
         ("dvao", {}), ("grpo_nostd", {}), ("mo_grpo", {}),
         ("gd2po", {}), ("gd2po", {"threshold": 1.0}), ("gd2po", {"threshold": 0.8, "scale_by_kept": False}),
         ("rc_shrink", {}), ("rc_shrink", {"scale": "none"}), ("rc_shrink", {"shrinkage": 0.4}),
         ("dvao_shrink", {}), ("dvao_shrink", {"shrinkage": 0.5}),
         ("rdpo", {}), ("rdpo", {"magnitude_aware": False}), ("rdpo", {"whiten_active": False}),
         ("rdpo", {"active": "varying"})]


ORACLE_ELSEWHERE = {"jspo"}   # checked against its authors' code, transcribed in tests/test_advantages_jspo.py


def test_every_registered_estimator_has_a_loop_case():
    assert {name for name, _ in CASES} | ORACLE_ELSEWHERE == set(advantages.names())


@pytest.mark.parametrize("name,opt", CASES, ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}"
                                                 for n, o in CASES])
@pytest.mark.parametrize("seed", range(6))
def test_loop_equals_vectorised(name, opt, seed):
    gen = torch.Generator().manual_seed(1000 + seed)
    b, g, k = 5 + seed, int(torch.randint(2, 12, (1,), generator=gen)), int(torch.randint(1, 5, (1,), generator=gen))
    rewards = random_rewards(seed, b, g, k, binary=seed % 2 == 1, missing=0.15)
    w = (torch.rand(k, generator=gen, dtype=torch.float64) + 0.05).tolist()
    std = "population" if seed % 3 else "bessel"
    eps = [1e-6, 0.0, 1e-4][seed % 3]
    res = advantages.get(name)(rewards, w, std=std, eps=eps, **opt)
    adv, means, stds, eff = loop_estimator(name, rewards, w, std=std, eps=eps, **opt)
    torch.testing.assert_close(res.advantages, torch.tensor(adv, dtype=torch.float64), atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(res.group_mean, torch.tensor(means, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(res.group_std, torch.tensor(stds, dtype=torch.float64), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(res.weights, torch.tensor(eff, dtype=torch.float64), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_dvao_shrink_state_carried_over_steps_equals_the_loop(seed):
    """memory > 0: three steps, each handing the previous result's state back in, match the loop."""
    w = [0.3, 0.7]
    state, loop_state = None, None
    for step in range(3):
        rewards = random_rewards(100 * seed + step, 6, 4, 2, binary=step % 2 == 0, missing=0.1)
        res = advantages.get("dvao_shrink")(rewards, w, memory=0.8, state=state)
        adv, eff, loop_state = loop_zoo.dvao_shrink(rewards.tolist(), w, 0, 1e-6, memory=0.8, state=loop_state)
        torch.testing.assert_close(res.advantages, torch.tensor(adv, dtype=torch.float64), atol=1e-9, rtol=1e-9)
        torch.testing.assert_close(res.weights, torch.tensor(eff, dtype=torch.float64), atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(res.state["pooled_var"], torch.tensor(loop_state[0], dtype=torch.float64))
        state = res.state


@pytest.mark.parametrize("seed", range(2))
def test_rdpo_pairwise_row_path_equals_the_loop(seed, monkeypatch):
    """rdpo ranks small batches with one broadcast comparison and larger ones row pair by row pair:
    force the second on a batch with ties, missing values and planted cases."""
    from workbench.advantages import rdpo

    monkeypatch.setattr(rdpo, "BROADCAST_LIMIT", 0)
    rewards = random_rewards(50 + seed, 9, 7, 3, binary=seed == 0, missing=0.15)
    w = [0.2, 0.3, 0.5]
    adv, *_ = loop_estimator("rdpo", rewards, w)
    torch.testing.assert_close(advantages.get("rdpo")(rewards, w).advantages, torch.tensor(adv, dtype=torch.float64),
                               atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("g", [3, 9])
def test_rdpo_every_group_active_path_equals_the_loop(g):
    """Continuous complete rewards (every objective varies in every group) take rdpo's one-pattern path."""
    rewards = torch.rand(6, g, 3, generator=torch.Generator().manual_seed(g), dtype=torch.float64)
    w = [0.2, 0.3, 0.5]
    adv, *_ = loop_estimator("rdpo", rewards, w)
    torch.testing.assert_close(advantages.get("rdpo")(rewards, w).advantages, torch.tensor(adv, dtype=torch.float64),
                               atol=1e-9, rtol=1e-9)
