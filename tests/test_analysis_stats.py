"""analysis.stats and analysis.compare: hand-computed cases, scipy's Mann-Whitney U as an oracle, and a planted
difference that the probability of improvement and its intervals must find at the seed count the formula states."""
from __future__ import annotations

import itertools
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from analysis import compare, pareto, synthetic
from analysis import stats as S
from analysis.load import load_runs
from workbench.store import SUMMARY


def verdict(a, b, n_boot=1000, paired=False):
    """One pair's numbers; unpaired (disjoint seeds: the Mann-Whitney test) unless ``paired``."""
    b_seeds = range(len(b)) if paired else range(1000, 1000 + len(b))
    return compare._pair(pd.Series(a), pd.Series(b, index=b_seeds), n_boot=n_boot, level=0.95, seed=0, power=0.8)


def test_shared_seeds_use_the_paired_signed_rank_test():
    """The same 5 seeds: a consistent lead gets the paired test, whose 5-pair floor (0.0625) blocks a verdict;
    6 pairs can pass (0.031)."""
    row = verdict([0.90, 0.91, 0.92, 0.93, 0.94], [0.50, 0.51, 0.52, 0.53, 0.54], paired=True)
    assert row["test"] == "wilcoxon" and row["p"] == pytest.approx(0.0625) and row["verdict"] == "cannot rank"
    row = verdict(np.arange(6) + 1.0, np.zeros(6), paired=True)
    assert row["p"] == pytest.approx(st.wilcoxon(np.arange(6) + 1.0).pvalue) and row["verdict"] == "a > b"
    assert verdict([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])["test"] == "mann-whitney"


@pytest.mark.parametrize("seed", range(4))
def test_poi_is_the_mann_whitney_estimate_with_ties_one_half(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 4, 7).astype(float), rng.integers(0, 4, 5).astype(float)   # many ties
    brute = np.mean([1.0 if x > y else 0.5 if x == y else 0.0 for x, y in itertools.product(a, b)])
    assert S.poi_statistic(a, b) == pytest.approx(brute)
    assert S.poi_statistic(a, b) == pytest.approx(st.mannwhitneyu(a, b).statistic / (len(a) * len(b)))
    poi, lo, hi = S.probability_of_improvement(a, b, n_boot=500)
    assert lo <= poi <= hi and S.poi_statistic(b, a) == pytest.approx(1 - poi)


def test_identical_methods_come_out_at_one_half_with_an_interval_containing_it():
    a = np.array([0.61, 0.58, 0.64, 0.60, 0.59])
    row = verdict(a, a.copy())
    assert row["poi"] == 0.5 and row["ci_lo"] < 0.5 < row["ci_hi"]
    assert row["verdict"] == "cannot rank" and row["seeds_needed"] == np.inf


def test_three_seeds_that_never_overlap_are_not_ranked_and_four_are_asked_for():
    row = verdict([0.90, 0.91, 0.92], [0.50, 0.51, 0.52])
    assert (row["poi"], row["ci_lo"], row["ci_hi"]) == (1.0, 1.0, 1.0)        # a degenerate bootstrap...
    assert row["mw_p"] == pytest.approx(0.1) and row["verdict"] == "cannot rank"  # ...that the rank test overrules
    assert row["seeds_needed"] == 4 == S.min_seeds_for_rank_test(0.95) and S.min_seeds_for_rank_test(0.99) == 5
    assert verdict([0.90, 0.91, 0.92, 0.93], [0.50, 0.51, 0.52, 0.53])["verdict"] == "a > b"


def test_a_planted_difference_is_found_at_the_stated_seed_count_and_none_is_invented():
    """A shift of 1.5 sd between normal per-seed hypervolumes: seeds_needed states 9 seeds per method for
    80% power; at 9 seeds the rank verdict must find it most of the time, and between two identical
    distributions it must almost never rank (the Mann-Whitney test bounds that at 5%)."""
    rng = np.random.default_rng(1)
    n = int(S.seeds_needed(1.5, 1.0))
    assert n == 9
    found = [verdict(rng.normal(1.5, 1, n), rng.normal(0, 1, n), n_boot=500) for _ in range(120)]
    assert np.mean([r["verdict"] == "a > b" for r in found]) >= 0.7
    assert np.mean([r["ci_lo"] > 0.5 for r in found]) >= 0.75
    assert np.mean([r["poi"] for r in found]) == pytest.approx(st.norm.cdf(1.5 / np.sqrt(2)), abs=0.04)
    null = [verdict(rng.normal(0, 1, 10), rng.normal(0, 1, 10), n_boot=500) for _ in range(120)]
    assert np.mean([r["verdict"] != "cannot rank" for r in null]) <= 0.06
    assert np.mean([r["ci_lo"] <= 0.5 <= r["ci_hi"] for r in null]) >= 0.88


def test_stratified_bootstrap_keeps_each_stratum_and_holds_single_values_fixed():
    # resampling within strata of 0s and 1s keeps the pooled mean at exactly 0.5; pooled resampling would not
    est, lo, hi = S.stratified_interval([np.zeros(4), np.ones(4)], S.pooled_mean_iqm, n_boot=300)
    assert est.tolist() == [0.5, 0.5] and lo.tolist() == [0.5, 0.5] and hi.tolist() == [0.5, 0.5]
    est, lo, hi = S.stratified_interval([np.array([0.2, 0.4]), np.array([0.9])], S.pooled_mean_iqm, n_boot=300)
    assert lo[0] == pytest.approx((0.2 * 2 + 0.9) / 3) and hi[0] == pytest.approx((0.4 * 2 + 0.9) / 3)
    assert np.isnan(S.stratified_interval([np.array([1.0])], S.pooled_mean_iqm)[1]).all()
    with pytest.raises(ValueError, match="n_boot must be a positive"):
        S.stratified_interval([np.ones(3)], S.pooled_mean_iqm, n_boot=0)


def test_iqm_profile_and_seed_count_by_hand():
    assert S.iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)                 # mean of 3, 4, 5, 6
    share = S.profile([0.0, 0.5, 0.95])(np.array([0.2, 0.6]), np.array([0.9]))
    assert share.tolist() == pytest.approx([1.0, 2 / 3, 0.0])
    # unpaired, diff = sd: the z formula gives 2 * (1.96 + 0.84)^2 = 15.7 -> 16; t quantiles raise it to 17
    assert S.seeds_needed(1.0, 1.0) == 17
    t = lambda n, df: (st.t.ppf(0.975, df) + st.t.ppf(0.8, df)) ** 2  # noqa: E731
    assert 17 >= 2 * t(17, 32) and 16 < 2 * t(16, 30)
    assert S.seeds_needed(1.0, 1.0, paired=True) == 10 and S.seeds_needed(-0.5, 0.5) == 17
    assert S.seeds_needed(0.0, 1.0) == np.inf and np.isnan(S.seeds_needed(0.1, float("nan")))
    assert S.smallest_rank_p(3, 3) == pytest.approx(0.1) and S.mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """dvao (radius 0.95) vs gdpo (0.92) with per-point noise 0.03, 10 seeds, 3 weights; gdpo_twin: gdpo's
    run directories copied under another method name (the same numbers)."""
    root = tmp_path_factory.mktemp("planted") / "runs"
    synthetic.write_sweep(root, methods=("gdpo", "dvao"), w0s=(0.2, 0.5, 0.8), seeds=range(10), steps=2, noise=0.03)
    for src in list(root.rglob("gdpo_*")):
        dst = src.with_name(src.name.replace("gdpo", "gdpo_twin"))
        shutil.copytree(src, dst)
        summary = (dst / SUMMARY).read_text().replace('"method": "gdpo"', '"method": "gdpo_twin"')
        (dst / SUMMARY).write_text(summary)
    return pareto.analyse(load_runs(root, steps=False).runs, n_boot=1000)


def true_seed_hypervolumes(method, n, rng):
    """The generator's model without files (analysis.synthetic: true point + N(0, 0.03) noise, clipped)."""
    from analysis import frontier as F

    truth = np.array([synthetic.true_point(method, w) for w in (0.2, 0.5, 0.8)])
    return np.array([F.hypervolume(np.clip(truth + rng.normal(0, 0.03, truth.shape), 0, 1), np.zeros(2))
                     for _ in range(n)])


def test_planted_difference_in_synthetic_runs(planted):
    rng = np.random.default_rng(0)
    a, b = true_seed_hypervolumes("dvao", 1500, rng), true_seed_hypervolumes("gdpo", 1500, rng)
    true_poi = S.poi_statistic(a, b)                                  # about 0.87
    needed = S.seeds_needed(a.mean() - b.mean(), np.sqrt((a.var() + b.var()) / 2))
    assert needed <= 10                                               # the 10 seeds run suffice (about 7)
    poi = planted.improvement.set_index(["method_a", "method_b"])
    win = poi.loc[("dvao", "gdpo")]
    assert win.ci_lo <= true_poi <= win.ci_hi and abs(win.poi - true_poi) < 0.1
    assert win.ci_lo > 0.5 and win.verdict == "a > b" and win.mw_p < 0.05
    lose = poi.loc[("gdpo", "dvao")]
    assert lose.poi == pytest.approx(1 - win.poi) and lose.ci_hi == pytest.approx(1 - win.ci_lo)
    assert lose.verdict == "a < b"
    twin = poi.loc[("gdpo", "gdpo_twin")]
    assert twin.poi == 0.5 and twin.ci_lo < 0.5 < twin.ci_hi and twin.verdict == "cannot rank"
    agg = planted.aggregate.set_index(["method", "statistic"])
    assert agg.loc[("dvao", "iqm"), "ci_lo"] > agg.loc[("gdpo", "iqm"), "ci_hi"]
    assert agg.loc[("gdpo", "mean"), "estimate"] == pytest.approx(agg.loc[("gdpo_twin", "mean"), "estimate"])
    lines = compare.verdicts(planted.improvement, "math / tiny")
    assert any(line.startswith("- **dvao ranks above gdpo**") for line in lines)
    twins = [line for line in lines if "cannot rank gdpo" in line and "gdpo_twin" in line]
    assert len(twins) == 1 and "The means are equal: no seed count separates them" in twins[0]


def test_seed_table_is_behind_every_aggregate(planted):
    seeds = planted.seed_hv
    assert len(seeds) == 3 * 10 and (seeds.n_points == 3).all()
    assert (seeds.hv_norm <= 1 + 1e-12).all() and seeds.hv_norm.max() > 0.95
    hv = planted.hypervolume.set_index("method")
    for m, grp in seeds.groupby("method"):
        assert hv.loc[m, "hv_mean"] == pytest.approx(grp.hypervolume.mean()) and hv.loc[m, "n_seeds"] == 10
    agg = planted.aggregate.set_index(["method", "statistic"])
    dvao = seeds[seeds.method == "dvao"].hv_norm
    assert agg.loc[("dvao", "mean"), "estimate"] == pytest.approx(dvao.mean())
    assert agg.loc[("dvao", "iqm"), "estimate"] == pytest.approx(st.trim_mean(dvao, 0.25))
    prof = planted.profile[planted.profile.method == "dvao"].set_index("tau")
    assert prof.loc[0.0, "share"] == 1.0 and prof.share.is_monotonic_decreasing


def test_paired_poi_sees_a_shift_that_seed_difficulty_hides_from_the_unpaired_one():
    """One seed = one problem for every method (the bandit): a consistent shift of 0.1 under a seed spread
    of 1 is a paired PoI of 1 and an unpaired one near 0.5; identical methods are exactly 1/2."""
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 8)
    assert S.paired_probability_of_improvement(base + 0.1, base)[0] == 1.0
    assert 0.3 < S.probability_of_improvement(base + 0.1, base, n_boot=200)[0] < 0.7
    poi, lo, hi = S.paired_probability_of_improvement(base, base.copy())
    assert (poi, lo, hi) == (0.5, 0.5, 0.5)
    mixed = S.paired_probability_of_improvement(base + [0.1, -0.1] * 4, base, n_boot=500)
    assert mixed[0] == 0.5 and mixed[1] < 0.5 < mixed[2]
    assert S.paired_probability_of_improvement([1.0, np.nan, 3.0], [0.0, 5.0, 4.0])[0] == 0.5   # NaN pair dropped


def test_wilcoxon_p_of_five_pairs_cannot_reach_five_percent():
    a = np.arange(5.0)
    assert S.wilcoxon_p(a + [0.1, 0.2, 0.3, 0.4, 0.5], a) == pytest.approx(2 / 32)
    assert S.wilcoxon_p(np.arange(6.0) + [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], np.arange(6.0)) == pytest.approx(2 / 64)
    assert np.isnan(S.wilcoxon_p(a, a))
