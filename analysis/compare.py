"""Comparing methods from their per-seed hypervolumes: probability of improvement per panel, aggregates
across panels (mean and IQM of the normalised hypervolume), performance profiles, and what the seeds can
and cannot rank. Input: the per-seed table (``panel, method, seed, hypervolume, hv_norm``); output: tidy
DataFrames, sentences for the report and plots. Statistics in analysis.stats; conventions in docs/analysis.md.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from analysis import stats as S
from analysis import style
from analysis.claims import holm, signed_rank_p
from analysis.tables import fmt

TAUS = np.linspace(0.0, 1.0, 101)   # performance-profile thresholds on the normalised hypervolume
POI_COLUMNS = ["panel", "method_a", "method_b", "n_a", "n_b", "poi", "ci_lo", "ci_hi", "mw_p", "hv_diff",
               "sd_pooled", "seeds_needed", "n_paired", "sd_paired", "seeds_needed_paired", "test", "p", "p_holm",
               "verdict"]


def _values(seed_hv: pd.DataFrame, panel: str, method: str, col: str = "hypervolume") -> pd.Series:
    sel = seed_hv[(seed_hv.panel == panel) & (seed_hv.method == method)]
    return sel.set_index("seed")[col].dropna()


def _pair(a: pd.Series, b: pd.Series, *, n_boot: int, level: float, seed: int, power: float) -> dict:
    """Every number of one ordered pair (a's seeds vs b's seeds, indexed by seed)."""
    poi, lo, hi = S.probability_of_improvement(a.to_numpy(), b.to_numpy(), n_boot=n_boot, level=level, seed=seed)
    diff = float(a.mean() - b.mean())
    sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)) if len(a) > 1 and len(b) > 1 else float("nan")
    shared = a.index.intersection(b.index)
    d = (a[shared] - b[shared]) if len(shared) > 1 else pd.Series(dtype=float)
    sd_d = float(d.std(ddof=1)) if len(d) else float("nan")
    mw_p = S.mann_whitney_p(a.to_numpy(), b.to_numpy())
    # both methods ran on the same seeds (a seed fixes the problem): the paired signed-rank test, which removes
    # the seed-to-seed spread; otherwise the rank test of two independent samples
    paired = len(d) >= 2 and len(d) == len(a) == len(b)
    p = signed_rank_p(d.to_numpy(), "two-sided") if paired else mw_p
    verdict = _verdict(poi, lo, hi, p, level)
    # the verdict needs the rank test too, which cannot reject below a minimum seed count whatever the effect
    needed = max(S.seeds_needed(diff, sd, level=level, power=power), S.min_seeds_for_rank_test(level))
    return dict(n_a=len(a), n_b=len(b), poi=poi, ci_lo=lo, ci_hi=hi, mw_p=mw_p, hv_diff=diff, sd_pooled=sd,
                seeds_needed=needed, n_paired=len(d), sd_paired=sd_d,
                seeds_needed_paired=S.seeds_needed(float(d.mean()) if len(d) else float("nan"), sd_d, paired=True,
                                                   level=level, power=power),
                test="wilcoxon" if paired else "mann-whitney", p=p, p_holm=p, verdict=verdict)


def _verdict(poi: float, lo: float, hi: float, p: float, level: float) -> str:
    """"a > b" / "a < b" when the bootstrap interval of P(a > b) excludes 1/2 and the test's p (Holm-corrected
    by improvement_table) is below 1 - level; otherwise "cannot rank"."""
    ranked = (lo > 0.5 or hi < 0.5) and p < 1 - level
    return ("a > b" if poi > 0.5 else "a < b") if ranked else "cannot rank"


def _mirror(row: dict) -> dict:
    """The same pair seen from b: P(b > a) = 1 - P(a > b), the interval mirrored (same resamples)."""
    flip = {"a > b": "a < b", "a < b": "a > b"}
    return {**row, "method_a": row["method_b"], "method_b": row["method_a"], "n_a": row["n_b"], "n_b": row["n_a"],
            "poi": 1 - row["poi"], "ci_lo": 1 - row["ci_hi"], "ci_hi": 1 - row["ci_lo"], "hv_diff": -row["hv_diff"],
            "verdict": flip.get(row["verdict"], row["verdict"])}


def improvement_table(seed_hv: pd.DataFrame, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                      power: float = 0.8) -> pd.DataFrame:
    """One row per panel and ordered pair of methods (POI_COLUMNS): poi = P(hypervolume of a seed of
    method_a > that of a seed of method_b), ties 1/2, with its bootstrap interval; the Mann-Whitney p;
    the difference of mean hypervolumes, its spread and the seeds per method needed to detect it with
    probability ``power`` at ``1 - level`` (t-test formula, at least the rank test's minimum), and what a
    paired t-test over the shared seeds would need;
    test: "wilcoxon" (signed-rank, paired by seed) when both methods ran on the same seeds, else "mann-whitney";
    p its two-sided p and p_holm that p Holm-corrected over the panel's pairs; verdict "a > b", "a < b" or
    "cannot rank" (interval excludes 0.5 and p_holm < 1 - level)."""
    rows = []
    for panel, grp in seed_hv.groupby("panel", sort=True):
        pairs = []
        for a, b in itertools.combinations(style.method_order(grp.method.unique()), 2):
            pairs.append({"panel": panel, "method_a": a, "method_b": b,
                          **_pair(_values(seed_hv, panel, a), _values(seed_hv, panel, b), n_boot=n_boot, level=level,
                                  seed=seed, power=power)})
        for row, adjusted in zip(pairs, holm([r["p"] for r in pairs])):
            row.update(p_holm=adjusted, verdict=_verdict(row["poi"], row["ci_lo"], row["ci_hi"], adjusted, level))
            rows += [row, _mirror(row)]
    return pd.DataFrame(rows, columns=POI_COLUMNS)


def _strata(seed_hv: pd.DataFrame, method: str) -> list[np.ndarray]:
    """One stratum per panel: ``method``'s normalised hypervolume per seed there (NaN dropped)."""
    mine = seed_hv[(seed_hv.method == method) & seed_hv.hv_norm.notna()]
    return [g.hv_norm.to_numpy() for _, g in mine.groupby("panel", sort=True)]


def aggregate_table(seed_hv: pd.DataFrame, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per method and statistic ("mean", "iqm") of the normalised hypervolume pooled over panels and seeds:
    estimate, stratified-bootstrap ci_lo/ci_hi (each panel's seeds resampled on their own), n_panels,
    n_seeds (the (panel, seed) sets pooled: the bootstrap's units) and n_runs (the runs in those sets)."""
    rows = []
    for method in style.method_order(seed_hv.method.unique()):
        strata = _strata(seed_hv, method)
        if not strata:
            continue
        est, lo, hi = S.stratified_interval(strata, S.pooled_mean_iqm, n_boot=n_boot, level=level, seed=seed)
        for i, name in enumerate(("mean", "iqm")):
            rows.append({"method": method, "statistic": name, "estimate": float(est[i]), "ci_lo": float(lo[i]),
                         "ci_hi": float(hi[i]), "n_panels": len(strata), "n_seeds": sum(map(len, strata)),
                         "n_runs": _runs_behind(seed_hv, method)})
    return pd.DataFrame(rows, columns=["method", "statistic", "estimate", "ci_lo", "ci_hi", "n_panels", "n_seeds",
                                       "n_runs"])


def _runs_behind(seed_hv: pd.DataFrame, method: str) -> int:
    """The runs behind ``method``'s normalised hypervolumes: each (panel, seed) set holds ``n_points`` runs
    (one per weight setting); without that column, one run per set."""
    mine = seed_hv[(seed_hv.method == method) & seed_hv.hv_norm.notna()]
    return int(mine["n_points"].sum()) if "n_points" in mine else len(mine)


def profile_table(seed_hv: pd.DataFrame, taus=TAUS, *, n_boot: int = 2000, level: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """Performance profiles: per method and threshold tau, the share of (panel, seed) runs whose normalised
    hypervolume exceeds tau, with a stratified-bootstrap band."""
    frames = []
    for method in style.method_order(seed_hv.method.unique()):
        strata = _strata(seed_hv, method)
        if strata:
            est, lo, hi = S.stratified_interval(strata, S.profile(taus), n_boot=n_boot, level=level, seed=seed)
            frames.append(pd.DataFrame({"method": method, "tau": taus, "share": est, "ci_lo": lo, "ci_hi": hi}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "tau", "share", "ci_lo", "ci_hi"])


def _seeds_text(row) -> str:
    if not np.isfinite(row.seeds_needed):
        return "the means are equal: no seed count separates them"
    paired = (f"; a paired t-test over shared seeds (sd of the differences {fmt(row.sd_paired, 4)} over "
              f"{row.n_paired}) would need {int(row.seeds_needed_paired)}" if np.isfinite(row.seeds_needed_paired) else "")
    return (f"at the observed difference ({fmt(row.hv_diff, 4)}) and spread (pooled sd {fmt(row.sd_pooled, 4)}) "
            f"about {int(row.seeds_needed)} seeds per method would be needed{paired}")


def verdicts(improvement: pd.DataFrame, panel: str, level: float = 0.95) -> list[str]:
    """One markdown bullet per unordered pair of ``panel``: ranked or not, in words, and the seed count."""
    lines = []
    rows = improvement[(improvement.panel == panel) & (improvement.poi >= 0.5)]
    seen = set()
    for row in rows.sort_values("poi", ascending=False).itertuples():
        key = frozenset((row.method_a, row.method_b))
        if key in seen:     # poi == 0.5 lists both orders; keep one
            continue
        seen.add(key)
        a, b = row.method_a, row.method_b
        test = ("paired Wilcoxon" if row.test == "wilcoxon" else "Mann-Whitney")
        est = (f"P({a} > {b}) = {fmt(row.poi, 2)} [{fmt(row.ci_lo, 2)}, {fmt(row.ci_hi, 2)}], "
               f"{test} p = {fmt(row.p, 3)} (Holm over the panel's pairs: {fmt(row.p_holm, 3)}), "
               f"{row.n_a} vs {row.n_b} seeds")
        if row.verdict == "a > b":
            lines.append(f"- **{a} ranks above {b}**: {est}.")
            continue
        if min(row.n_a, row.n_b) < 2:
            lines.append(f"- **cannot rank {a} and {b}**: {est}; fewer than 2 seeds on a side say nothing about "
                         "the spread.")
            continue
        if row.ci_lo <= 0.5 <= row.ci_hi:
            why = "the interval includes 0.5"
        else:
            floor = 2.0 ** (1 - row.n_paired) if row.test == "wilcoxon" else S.smallest_rank_p(row.n_a, row.n_b)
            why = f"the bootstrap interval excludes 0.5, but the rank test does not reject at {fmt(1 - level, 2)}"
            if floor >= 1 - level:
                why += f" and cannot: with {row.n_a} vs {row.n_b} seeds no p below {fmt(floor, 3)} is possible"
        seeds = _seeds_text(row)
        lines.append(f"- **cannot rank {a} and {b}**: {est}; {why}. {seeds[0].upper()}{seeds[1:]}.")
    return lines


def plot_poi(improvement: pd.DataFrame, panel: str, stem) -> list[str]:
    """Heatmap: row method_a, column method_b, cell P(a > b) with its interval; bold where ranked."""
    import matplotlib.pyplot as plt

    sel = improvement[improvement.panel == panel]
    methods = style.method_order(set(sel.method_a) | set(sel.method_b))
    grid = sel.pivot(index="method_a", columns="method_b", values="poi").reindex(index=methods, columns=methods)
    fig, ax = plt.subplots(figsize=(1.3 * len(methods) + 2.2, 1.0 * len(methods) + 1.4))
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=0, vmax=1)
    for row in sel.itertuples():
        i, j = methods.index(row.method_a), methods.index(row.method_b)
        ranked = row.verdict != "cannot rank"
        ax.text(j, i, f"{row.poi:.2f}\n[{fmt(row.ci_lo, 2)}, {fmt(row.ci_hi, 2)}]", ha="center", va="center",
                fontsize=8, fontweight="bold" if ranked else "normal",
                color=style.text_color(im.cmap(im.norm(row.poi))))  # white on the dark cells, black on the light
    ax.set_xticks(range(len(methods)), methods), ax.set_yticks(range(len(methods)), methods)
    ax.set_xlabel("method_b"), ax.set_ylabel("method_a")
    fig.colorbar(im, ax=ax, label="P(hypervolume of a seed of a > one of b)")
    ax.set_title(f"{panel}: probability of improvement\n(bold: ranked; interval: bootstrap)", fontsize=9)
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def plot_aggregates(aggregate: pd.DataFrame, stem, level: float = 0.95) -> list[str]:
    """Two panels (mean, IQM of the normalised hypervolume): a point and interval per method."""
    import matplotlib.pyplot as plt

    methods = style.method_order(aggregate.method.unique())
    fig, axes = plt.subplots(1, 2, figsize=(9, 0.45 * len(methods) + 1.6), sharey=True)
    for ax, name in zip(axes, ("mean", "iqm")):
        sel = aggregate[aggregate.statistic == name].set_index("method").reindex(methods)
        for y, (m, r) in enumerate(sel.iterrows()):
            ax.plot([r.ci_lo, r.ci_hi], [y, y], color=style.color(m), lw=6, alpha=0.5, solid_capstyle="butt")
            ax.plot([r.estimate], [y], "|", color="black", ms=14)
        ax.set_title(f"{'IQM' if name == 'iqm' else 'mean'} of normalised hypervolume", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)), methods)
    fig.suptitle(f"all panels and seeds, {int(round(level * 100))}% stratified-bootstrap intervals", fontsize=9)
    fig.tight_layout()
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def plot_profiles(profile: pd.DataFrame, stem) -> list[str]:
    """Performance profiles: share of runs with normalised hypervolume > tau, one line and band per method."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for m in style.method_order(profile.method.unique()):
        p = profile[profile.method == m]
        ax.plot(p.tau, p.share, color=style.color(m), label=style.label(m), lw=1.5, ls=style.linestyle(m))
        ax.fill_between(p.tau, p.ci_lo.fillna(p.share), p.ci_hi.fillna(p.share), color=style.color(m), alpha=0.15, lw=0)
    ax.set_xlabel(r"normalised hypervolume $\tau$"), ax.set_ylabel(r"share of runs with score $> \tau$")
    ax.grid(alpha=0.3), ax.legend(fontsize=8)
    ax.set_title("performance profiles (all panels and seeds)", fontsize=9)
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths
