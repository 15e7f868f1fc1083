"""Conventions stated in docs/estimators.md, measured: convention=trl is TRL 1.16's code path, the defaults'
differences from it, what a constant group gets from each estimator (the docs' table is checked against the
code), when DVAO equals RC at G = 2, and gd2po's tie rule."""
import itertools
import re
from pathlib import Path

import pytest
import torch

from workbench import advantages
from workbench.advantages import get
from workbench.advantages.trl_reference import trl_advantages

DOCS = Path(__file__).resolve().parents[1] / "docs" / "estimators.md"
TRL_PAIRS = [("rc", {}, "sum_then_normalize", "group"), ("rc", {"scale": "batch"}, "sum_then_normalize", "batch"),
             ("grpo_nostd", {}, "sum_then_normalize", "none"), ("gdpo", {}, "normalize_then_sum", "group")]


@pytest.mark.parametrize("name,opt,aggregation,scale", TRL_PAIRS, ids=[f"{p[0]}-{p[3]}" for p in TRL_PAIRS])
@pytest.mark.parametrize("shape", [(1, 2, 2), (8, 16, 2), (32, 8, 4)])
def test_convention_trl_is_trls_code_path(name, opt, aggregation, scale, shape):
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        rewards = torch.rand(*shape, generator=gen)
        if seed:
            rewards[rewards < 0.1] = float("nan")       # a reward function's None, as TRL sees it
        w = (torch.rand(shape[-1], generator=gen) + 0.1).tolist()
        torch.testing.assert_close(get(name)(rewards, w, convention="trl", **opt).advantages,
                                   trl_advantages(rewards, w, aggregation, scale), atol=1e-5, rtol=1e-5)


def test_the_defaults_differ_from_trl_as_documented():
    """At G = 2 every non-tied RC advantage is about +-1 with the population std and +-1/sqrt(2) in TRL (up to
    the eps terms: binary rewards keep the std far above them)."""
    r = (torch.rand(64, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) < 0.5).double()
    ours = get("rc")(r, [0.5, 0.5]).advantages
    theirs = trl_advantages(r, [0.5, 0.5], "sum_then_normalize")
    moved = theirs != 0
    assert moved.sum() > 20 and ((ours == 0) == ~moved).all()
    torch.testing.assert_close(ours[moved] / theirs[moved], torch.full_like(ours[moved], 2 ** 0.5), rtol=1e-3, atol=0)
    big = torch.rand(8, 16, 2, generator=torch.Generator().manual_seed(1))
    for name in ("rc", "gdpo"):
        gap = (get(name)(big, [0.5, 0.5]).advantages - get(name)(big, [0.5, 0.5], convention="trl").advantages)
        assert gap.abs().max() > 1e-2


def test_convention_refuses_contradictions_and_estimators_without_a_trl_counterpart():
    r = torch.rand(2, 4, 2)
    with pytest.raises(ValueError, match="convention=trl sets eps=0.0001; drop eps"):
        get("rc")(r, [0.5, 0.5], convention="trl", eps=1e-6)
    with pytest.raises(ValueError, match="convention must be one of"):
        get("gdpo")(r, [0.5, 0.5], convention="verl")
    assert torch.equal(get("rc")(r, [0.5, 0.5], convention="trl", std="bessel").advantages,
                       get("rc")(r, [0.5, 0.5], std="bessel", eps=1e-4).advantages)
    with pytest.raises(TypeError):
        get("dvao")(r, [0.5, 0.5], convention="trl")   # no TRL counterpart; a config fails at validation


def constant_group_behaviour() -> dict[str, str]:
    """What each registered estimator (default options) gives a group whose every reward is the same, next to
    varying groups: "exactly 0", "float residue" (|A| < 1e-9: the batch mean of AC's sums is 0 up to rounding)
    or "one shared nonzero value"."""
    r = torch.rand(6, 8, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r[0] = torch.tensor([0.7, 0.3], dtype=torch.float64)
    out = {}
    for name in advantages.names():
        a = get(name)(r, [0.5, 0.5]).advantages[0]
        assert (a == a[0]).all(), name                   # one value for the whole group, whatever it is
        out[name] = ("exactly 0" if (a == 0).all() else "float residue" if a.abs().max() < 1e-9
                     else "one shared nonzero value")
    return out


def test_the_docs_constant_group_table_is_what_the_code_does():
    text = DOCS.read_text()
    section = text[text.index("### What a constant group gets"):]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", section, flags=re.M))
    measured = constant_group_behaviour()
    assert {name: rows.get(name) for name in measured} == measured


def _differ(w, rewards) -> float:
    a, b = get("dvao")(rewards, w).advantages, get("rc")(rewards, w).advantages
    return ((a - b).abs().amax(1) > 1e-9).double().mean().item()


def test_dvao_equals_rc_at_g2_only_for_binary_equal_weights_k2():
    """Every binary G = 2 group enumerated: DVAO = RC for K = 2 and equal weights; 2 of the 16 groups differ with
    weights (0.8, 0.2), 6 of 64 with K = 3; random continuous rewards differ in about half the groups."""
    def groups(k):
        return torch.tensor(list(itertools.product((0.0, 1.0), repeat=2 * k)), dtype=torch.float64).view(-1, 2, k)
    assert _differ([0.5, 0.5], groups(2)) == 0.0
    assert _differ([0.8, 0.2], groups(2)) == 2 / 16
    assert _differ([1 / 3] * 3, groups(3)) == 6 / 64
    cont = torch.rand(20000, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert 0.47 < _differ([0.5, 0.5], cont) < 0.53


def test_gd2po_tie_rule_is_the_authors():
    """Contributions (0.75, -0.25) at threshold 0.5: rho is exactly 0.5; the authors' +1e-8 drops the completion,
    ratio_eps=0 keeps it."""
    r = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]], dtype=torch.float64)
    kept = {e: get("gd2po")(r, [0.75, 0.25], threshold=0.5, eps=0.0, ratio_eps=e).diagnostics["kept_frac"].item()
            for e in (1e-8, 0.0)}
    assert kept == {1e-8: 0.5, 0.0: 1.0}
    with pytest.raises(ValueError, match="ratio_eps"):
        get("gd2po")(r, [0.5, 0.5], ratio_eps=-1.0)
