"""Writes a ParetoResult (analysis.pareto) to disk: CSVs, PNG+PDF plots and report.md.

Every file and column is listed in docs/analysis.md; report.md says in words which methods the seeds
can rank and how many seeds the others would need.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import attainment, claims, compare, indicators, style
from analysis.load import slug
from analysis.stats import mean_interval
from analysis.tables import fmt, markdown
from workbench.outputs import claim_report_dir

MAX_LISTED = 40   # non-dominated runs listed in report.md; runs.csv flags all of them


def _in(table: pd.DataFrame, panel: str) -> pd.DataFrame:
    return table[table["panel"] == panel]


def _ci(est, lo, hi, digits: int = 3) -> str:
    return f"{fmt(est, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def plot_fronts(result, panel: str, stem: Path) -> list[str]:
    """Scatter of every run (faint), each method's sweep points and the staircase of its front, the overall
    front ringed; with more than 2 eval axes one subplot per pair of axes, each staircase the method's
    front in that pair. One legend for all subplots, below them."""
    import matplotlib.pyplot as plt

    from analysis.frontier import nondominated

    axes = result.axes[panel]
    runs, pts = _in(result.runs, panel), _in(result.points, panel)
    pairs = list(itertools.combinations(range(len(axes)), 2))
    fig, subplots = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.5), squeeze=False)
    floor = runs[axes].min().to_numpy(dtype=float)   # staircases drop to the panel's lowest values, so a one-point front shows
    for ax, (i, j) in zip(subplots[0], pairs):
        xi, yj = axes[i], axes[j]
        for m in style.method_order(runs["method"].unique()):
            c, mk = style.color(m), style.marker(m)
            mr, mp = runs[runs.method == m], pts[pts.method == m]
            ax.scatter(mr[xi], mr[yj], color=c, marker=mk, s=14, alpha=0.3, linewidths=0)
            ax.scatter(mp[xi], mp[yj], color=c, marker=mk, s=50, label=style.label(m), edgecolors="white", zorder=3)
            flat = mp[[xi, yj]].to_numpy(dtype=float)
            front = flat[nondominated(flat)]   # in 2 axes: the on_front points; in more: the front in this pair
            if len(front):
                ax.plot(*attainment.staircase(front, floor[[i, j]]), color=c, lw=1.5, zorder=2)
        nd = runs[runs.nondominated]
        ax.scatter(nd[xi], nd[yj], s=120, facecolors="none", edgecolors="black", lw=0.8, label="non-dominated run")
        ax.set_xlabel(xi), ax.set_ylabel(yj), ax.grid(alpha=0.3)
    fig.suptitle(f"{panel}: runs (faint), seed-mean sweep points and method fronts"
                 + (" (each pair of axes: the fronts in those two)" if len(pairs) > 1 else ""))
    fig.tight_layout()
    style.shared_legend(fig, subplots[0])
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def plot_hypervolume(result, panel: str, stem: Path) -> list[str]:
    """Bar per method: mean per-seed hypervolume with its bootstrap CI; each seed's value as a dot."""
    import matplotlib.pyplot as plt

    hv, seeds = _in(result.hypervolume, panel), _in(result.seed_hv, panel)
    fig, ax = plt.subplots(figsize=(1.1 * len(hv) + 2, 3.5))
    x = np.arange(len(hv))
    err = np.vstack([hv.hv_mean - hv.ci_lo, hv.ci_hi - hv.hv_mean]).clip(min=0)
    ax.bar(x, hv.hv_mean, color=[style.color(m) for m in hv.method], alpha=0.6, yerr=np.nan_to_num(err), capsize=4)
    jitter = np.random.default_rng(0)
    for i, m in enumerate(hv.method):
        vals = seeds[seeds.method == m].hypervolume.to_numpy()
        ax.scatter(i + jitter.uniform(-0.2, 0.2, len(vals)), vals, s=10, color="black", zorder=3, linewidths=0)
    ax.set_xticks(x, [style.label(m) for m in hv.method])
    ax.set_ylabel("hypervolume (mean over seeds)")
    ax.set_title(f"{panel}: ref {result.refs[panel].tolist()}, bootstrap CI, dots: seeds", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def _hv_view(hv: pd.DataFrame, level: float) -> pd.DataFrame:
    pct = int(round(level * 100))
    view = hv.set_index("method")[["n_seeds", "n_weights", "hv_mean", "ci_lo", "ci_hi", "hv_of_mean_front"]]
    return view.rename(columns={"ci_lo": f"{pct}% CI lo", "ci_hi": f"{pct}% CI hi"})


def _dominance_view(dom: pd.DataFrame) -> pd.DataFrame:
    view = dom.pivot(index="method", columns="by", values="n_dominated")
    order = style.method_order(dom["method"].unique())
    cols = [m for m in order if m in view.columns] + ["any other"]
    view = view.reindex(index=order, columns=cols)
    view.insert(0, "points", dom.groupby("method")["n_points"].first().reindex(order))
    return view.astype("Int64")   # counts; the diagonal stays empty


def _poi_view(poi: pd.DataFrame) -> pd.DataFrame:
    """method_a x method_b cells "0.83 [0.61, 0.97]" (bold where the pair is ranked: see verdicts)."""
    methods = style.method_order(set(poi.method_a) | set(poi.method_b))
    cells = poi.assign(cell=[_ci(r.poi, r.ci_lo, r.ci_hi, 2) for r in poi.itertuples()])
    view = cells.pivot(index="method_a", columns="method_b", values="cell").reindex(index=methods, columns=methods)
    view.index.name = "P(row > column)"
    return view


def _aggregate_view(agg: pd.DataFrame) -> pd.DataFrame:
    rows = {}
    for m in style.method_order(agg.method.unique()):
        a = agg[agg.method == m].set_index("statistic")
        rows[m] = {"panels": a.n_panels.iloc[0], "seeds": a.n_seeds.iloc[0], "runs": a.n_runs.iloc[0],
                   "mean [CI]": _ci(*a.loc["mean", ["estimate", "ci_lo", "ci_hi"]]),
                   "IQM [CI]": _ci(*a.loc["iqm", ["estimate", "ci_lo", "ci_hi"]])}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _indicator_view(ind: pd.DataFrame, level: float) -> pd.DataFrame:
    rows = {}
    for m in style.method_order(ind.method.unique()):
        sel = ind[ind.method == m]
        rows[m] = {"seeds": len(sel), **{f"{k} [CI]": _ci(*mean_interval(sel[k], level=level), 4)
                                         for k in indicators.INDICATORS}}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def _loading_notes(result, skipped, duplicates) -> list[str]:
    notes = []
    if skipped:
        notes.append(f"- {len(skipped)} run(s) skipped (not finished or unreadable): "
                     + "; ".join(f"`{r}` ({why})" for r, why in skipped[:MAX_LISTED]))
    if duplicates:
        notes.append(f"- {len(duplicates)} run(s) dropped as repeats of another run's method, weights, seed and "
                     "config (not counted as extra seeds): " + "; ".join(f"`{d}` repeats `{o}`" for d, o in duplicates))
    if result.excluded:
        notes.append(f"- {len(result.excluded)} run(s) left out for a missing (NaN) eval value: "
                     + ", ".join(f"`{r}`" for _, r in result.excluded))
    return ["## Runs left out", "", *notes, ""] if notes else []


def _stat_intro(result) -> list[str]:
    pct = int(round(result.level * 100))
    return [
        "Conventions (details: docs/analysis.md): every interval is a "
        f"{pct}% percentile bootstrap over seeds (stratified by panel and method). P(a > b) is the probability",
        "that a seed of a has a larger hypervolume than a seed of b (Mann-Whitney estimate, ties 1/2). Two methods",
        "are ranked when that interval excludes 0.5 and a two-sided rank test (the paired Wilcoxon signed-rank test",
        "where both methods ran the same seeds, else Mann-Whitney), Holm-corrected over the panel's pairs, rejects",
        f"at {1 - result.level:.2g}. Rankings are exploratory: see the claims section for what fresh seeds confirmed.",
        f"Seeds needed per method (two-sided test at that level, power {result.power:g}): the smallest n with",
        "n >= 2 (t_(1-alpha/2, 2n-2) + t_(power, 2n-2))^2 sd^2 / diff^2 (sd: pooled per-seed sd), and at least the",
        "fewest seeds the rank test can reject with; a paired t-test over shared seeds would need",
        "n >= (t_(1-alpha/2, n-1) + t_(power, n-1))^2 sd_d^2 / diff^2 (sd_d: sd of the per-seed differences).",
        "The normalised hypervolume divides a seed's hypervolume by that of the panel's reference front (all",
        "runs of all methods and seeds together); IQM is the mean of its middle 50% over all panels and seeds.", ""]


def _panel_section(result, panel: str, out: Path) -> list[str]:
    axes, name, level = result.axes[panel], slug(panel), result.level
    plot_fronts(result, panel, out / f"front_{name}")
    plot_hypervolume(result, panel, out / f"hypervolume_{name}")
    runs = _in(result.runs, panel)
    nd = runs[runs.nondominated]
    lines = [f"## {panel}", "", f"Axes: {', '.join(axes)}; reference point {result.refs[panel].tolist()}; "
             f"{len(runs)} runs, {len(nd)} non-dominated.", "",
             f"![fronts](front_{name}.png)", "", f"![hypervolume](hypervolume_{name}.png)", "",
             "### Hypervolume", "", markdown(_hv_view(_in(result.hypervolume, panel), level))]
    poi = _in(result.improvement, panel)
    if len(poi):
        compare.plot_poi(poi, panel, out / f"poi_{name}")
        lines += ["### Probability of improvement", "", markdown(_poi_view(poi)), f"![poi](poi_{name}.png)", "",
                  "### What the seeds can tell apart", "", *compare.verdicts(poi, panel, level), ""]
    if len(axes) == 2:
        attainment.plot_surfaces(runs[runs.panel == panel].dropna(subset=axes), axes, result.refs[panel], panel,
                                 out / f"eaf_{name}")
        lines += ["### Attainment surfaces across seeds", "", f"![eaf](eaf_{name}.png)", ""]
        if panel in result.eafdiff:
            a, b = result.eafdiff[panel]
            stem = f"eafdiff_{name}_{a}_vs_{b}"
            attainment.plot_difference(runs.dropna(subset=axes), a, b, axes, result.refs[panel], panel, out / stem)
            lines += [f"EAF difference {a} - {b} (choose the pair with --eafdiff A B):", "", f"![eafdiff]({stem}.png)", ""]
    ind = _in(result.indicators, panel)
    if len(ind):
        lines += ["### Against the known front", "",
                  "Mean over seeds [CI]; IGD+ and additive epsilon: lower is better; hv_frac: higher.", "",
                  markdown(_indicator_view(ind, level))]
    lines += ["### Sweep points dominated by another method's front", "",
              "Row: the method whose points are counted; column: the method whose front dominates them.", "",
              markdown(_dominance_view(_in(result.dominance, panel))),
              "### Non-dominated runs", "",
              markdown(nd.head(MAX_LISTED).set_index("run")[["method", "weights", "seed", *axes]]),
              f"({len(nd) - MAX_LISTED} more: the `nondominated` column of runs.csv)\n" if len(nd) > MAX_LISTED else ""]
    return lines


def write_outputs(result, out: Path, *, skipped=(), duplicates=()) -> Path:
    """Write CSVs, plots and report.md into ``out``; returns the report's path. ``skipped`` and
    ``duplicates``: analysis.load.RunTables' lists, named in the report."""
    out = claim_report_dir(out)
    runs = result.runs.drop(columns=["path", "known_front"], errors="ignore").assign(
        objectives=lambda d: d.objectives.map(",".join), eval_axes=lambda d: d.eval_axes.map(",".join))
    runs.to_csv(out / "runs.csv", index=False)
    tables = {"points": result.points, "hypervolume": result.hypervolume, "dominance": result.dominance,
              "seed_hypervolume": result.seed_hv, "improvement": result.improvement,
              "aggregate": result.aggregate, "profile": result.profile, "eaf": result.eaf}
    if len(result.indicators):
        tables["indicators"] = result.indicators
    if result.claims is not None:
        tables["claims"] = result.claims
    for stem, table in tables.items():
        table.to_csv(out / f"{stem}.csv", index=False)
    lines = ["# Pareto analysis", "",
             "All eval axes are maximised. Points are seed means per (method, weights); a method's front is the",
             "non-dominated subset of its own sweep. Hypervolume is computed per seed over that seed's sweep points",
             "(seed_hypervolume.csv), then averaged.", "", *_stat_intro(result),
             "Files: " + ", ".join(f"{s}.csv" for s in ["runs", *tables]) + ".", "",
             *_loading_notes(result, skipped, duplicates)]
    if result.claims is not None:
        lines += claims.report_lines(result.claims, result.metric, result.plan)
    if len(result.aggregate):
        compare.plot_aggregates(result.aggregate, out / "aggregate", result.level)
        compare.plot_profiles(result.profile, out / "profiles")
        lines += ["## All panels: normalised hypervolume", "", markdown(_aggregate_view(result.aggregate))]
        if result.aggregate.n_panels.nunique() > 1:
            lines += ["Methods ran in different numbers of panels: compare their aggregates with care.", ""]
        lines += ["![aggregate](aggregate.png)", "", "![profiles](profiles.png)", ""]
    for panel in result.axes:
        lines += _panel_section(result, panel, out)
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"
