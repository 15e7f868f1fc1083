"""`python -m analysis.pareto runs/ [--out DIR] [--ref 0 0]`: Pareto fronts and hypervolumes.

For each task and model: the runs no other run dominates (over the task's eval axes), each method's
front across its weight sweep (seed-averaged points), each method's hypervolume per seed with its
mean and bootstrap CI, and how many of a method's sweep points another method's front dominates.
Outputs in --out (default reports/pareto): runs.csv, points.csv, hypervolume.csv, dominance.csv,
front_<task>_<model>.png/.pdf, hypervolume_<task>_<model>.png/.pdf, report.md; a summary is printed.
Reference point: 0 on every axis unless --ref is given (see analysis.frontier).
"""
from __future__ import annotations

import argparse
import itertools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import frontier as F
from analysis import style
from analysis.load import SPLIT_AXES, load_runs, panel_labels, slug
from analysis.tables import fmt, markdown


MAX_LISTED = 40   # non-dominated runs listed in report.md; runs.csv flags all of them


@dataclass(frozen=True)
class ParetoResult:
    """Everything one analysis produced. A panel is one task and model (and one value of each split axis
    that varies, e.g. "math / tiny / G=4"); every table has a ``panel`` column naming it."""

    runs: pd.DataFrame         # the input runs plus ``panel`` and ``nondominated`` (on its panel's overall front)
    points: pd.DataFrame       # sweep_points: seed-averaged point per (panel, method, weights)
    hypervolume: pd.DataFrame  # hypervolume_table rows
    dominance: pd.DataFrame    # dominance_table rows
    axes: dict                 # panel -> list of eval/<axis> columns
    refs: dict                 # panel -> reference point (D,)


def analyse(runs: pd.DataFrame, *, ref=None, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> ParetoResult:
    """Run every Pareto computation on a runs table (analysis.load); pure, no I/O.

    Runs are analysed per task and model, and separately per value of any split axis (load.SPLIT_AXES,
    e.g. G) that varies among them: a front mixing group sizes would compare unlike experiments."""
    runs = runs.copy()
    runs["panel"] = panel_labels(runs)
    runs["nondominated"] = False
    points, hvs, doms, axes_by, refs = [], [], [], {}, {}
    for panel, grp in runs.groupby("panel", sort=True):
        axes = F.axes_of(grp)
        r = F.reference_point(len(axes), ref)
        bad = grp[axes].isna().any(axis=1)
        if bad.any():
            warnings.warn(f"{panel}: ignoring {int(bad.sum())} runs with a missing eval metric: "
                          f"{', '.join(grp.loc[bad, 'run'])}", stacklevel=2)
            grp = grp[~bad]
        runs.loc[grp.index, "nondominated"] = F.flag_nondominated(grp, axes)
        pts = F.sweep_points(grp, axes)
        tag = {"panel": panel, **{a: grp[a].iloc[0] for a in SPLIT_AXES if a in grp and grp[a].nunique() == 1}}
        points.append(pts.assign(**tag))
        hvs.append(F.hypervolume_table(grp, axes, r, n_boot=n_boot, level=level, seed=seed).assign(**tag))
        doms.append(F.dominance_table(pts, axes).assign(**tag))
        axes_by[panel], refs[panel] = axes, r
    return ParetoResult(runs, pd.concat(points, ignore_index=True), pd.concat(hvs, ignore_index=True),
                        pd.concat(doms, ignore_index=True), axes_by, refs)


def _staircase(front: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x, y of the maximising 2-D front's attainment staircase through ``front`` (F, 2)."""
    front = front[np.argsort(front[:, 0])]
    xs, ys = [], []
    for i, (x, y) in enumerate(front):
        if i:  # drop from the previous point to this one's height first: the corner below, not above
            xs.append(front[i - 1, 0]), ys.append(y)
        xs.append(x), ys.append(y)
    return np.array(xs), np.array(ys)


def _in(table: pd.DataFrame, panel: str) -> pd.DataFrame:
    return table[table["panel"] == panel]


def plot_fronts(result: ParetoResult, panel: str, stem: Path) -> list[str]:
    """Scatter of every run (faint), each method's sweep points and front, the overall front ringed."""
    import matplotlib.pyplot as plt

    axes = result.axes[panel]
    runs, pts = _in(result.runs, panel), _in(result.points, panel)
    pairs = list(itertools.combinations(range(len(axes)), 2))
    fig, subplots = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 4.5), squeeze=False)
    for ax, (i, j) in zip(subplots[0], pairs):
        xi, yj = axes[i], axes[j]
        for m in style.method_order(runs["method"].unique()):
            c, mk = style.color(m), style.marker(m)
            mr, mp = runs[runs.method == m], pts[pts.method == m]
            ax.scatter(mr[xi], mr[yj], color=c, marker=mk, s=14, alpha=0.25, linewidths=0)
            ax.scatter(mp[xi], mp[yj], color=c, marker=mk, s=50, label=style.label(m), edgecolors="white")
            if len(axes) == 2:
                front = mp[mp.on_front][[xi, yj]].to_numpy()
                if len(front):
                    ax.plot(*_staircase(front), color=c, lw=1.5)
        nd = runs[runs.nondominated]
        ax.scatter(nd[xi], nd[yj], s=120, facecolors="none", edgecolors="black", lw=0.8, label="non-dominated run")
        ax.set_xlabel(xi), ax.set_ylabel(yj), ax.grid(alpha=0.3)
    subplots[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{panel}: runs (faint), seed-mean sweep points and method fronts")
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def plot_hypervolume(result: ParetoResult, panel: str, stem: Path) -> list[str]:
    """Bar per method: mean per-seed hypervolume with its bootstrap CI as error bars."""
    import matplotlib.pyplot as plt

    hv = _in(result.hypervolume, panel)
    fig, ax = plt.subplots(figsize=(1.1 * len(hv) + 2, 3.5))
    x = np.arange(len(hv))
    err = np.vstack([hv.hv_mean - hv.ci_lo, hv.ci_hi - hv.hv_mean]).clip(min=0)
    ax.bar(x, hv.hv_mean, color=[style.color(m) for m in hv.method],
           yerr=np.nan_to_num(err), capsize=4)
    ax.set_xticks(x, [style.label(m) for m in hv.method])
    ax.set_ylabel("hypervolume (mean over seeds)")
    ax.set_title(f"{panel}: ref {result.refs[panel].tolist()}, bootstrap CI")
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


def write_outputs(result: ParetoResult, out: Path, level: float = 0.95) -> Path:
    """Write CSVs, plots and report.md into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    runs = result.runs.drop(columns=["path"]).assign(objectives=lambda d: d.objectives.map(",".join),
                                                      eval_axes=lambda d: d.eval_axes.map(",".join))
    runs.to_csv(out / "runs.csv", index=False)
    result.points.to_csv(out / "points.csv", index=False)
    result.hypervolume.to_csv(out / "hypervolume.csv", index=False)
    result.dominance.to_csv(out / "dominance.csv", index=False)
    lines = ["# Pareto analysis", "",
             "All eval axes are maximised. Points are seed means per (method, weights); a method's front is the",
             "non-dominated subset of its own sweep. Hypervolume is computed per seed over that seed's sweep points,",
             f"then averaged; the interval is a {int(round(level * 100))}% percentile bootstrap over seeds "
             "(NaN with a single seed).", "",
             "Files: runs.csv, points.csv, hypervolume.csv, dominance.csv.", ""]
    for panel, axes in result.axes.items():
        name = slug(panel)
        plot_fronts(result, panel, out / f"front_{name}")
        plot_hypervolume(result, panel, out / f"hypervolume_{name}")
        sel = lambda d: _in(d, panel)  # noqa: E731
        runs_tm = sel(result.runs)
        nd = runs_tm[runs_tm.nondominated]
        lines += [f"## {panel}", "",
                  f"Axes: {', '.join(axes)}; reference point {result.refs[panel].tolist()}; "
                  f"{len(runs_tm)} runs, {len(nd)} non-dominated.", "",
                  f"![fronts](front_{name}.png)", "", f"![hypervolume](hypervolume_{name}.png)", "",
                  "### Hypervolume", "", markdown(_hv_view(sel(result.hypervolume), level)),
                  "### Sweep points dominated by another method's front", "",
                  "Row: the method whose points are counted; column: the method whose front dominates them.", "",
                  markdown(_dominance_view(sel(result.dominance))),
                  "### Non-dominated runs", "",
                  markdown(nd.head(MAX_LISTED).set_index("run")[["method", "weights", "seed", *axes]]),
                  f"({len(nd) - MAX_LISTED} more: the `nondominated` column of runs.csv)\n" if len(nd) > MAX_LISTED else ""]
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"


def print_summary(result: ParetoResult) -> None:
    """A rich table per panel: hypervolume mean [CI], front size and points dominated."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for panel in result.axes:
        table = Table(title=panel)
        for col in ("method", "seeds", "HV mean", "CI", "front pts", "dominated by others"):
            table.add_column(col, justify="left" if col == "method" else "right")
        hv, pts, dom = _in(result.hypervolume, panel), _in(result.points, panel), _in(result.dominance, panel)
        dom = dom[dom.by == "any other"].set_index("method")
        for row in hv.itertuples():
            front = int(pts[(pts.method == row.method)].on_front.sum())
            d = dom.loc[row.method]
            table.add_row(f"[{style.color(row.method)}]{row.method}[/]", str(row.n_seeds), fmt(row.hv_mean, 4),
                          f"[{fmt(row.ci_lo, 4)}, {fmt(row.ci_hi, 4)}]", str(front),
                          f"{d.n_dominated}/{d.n_points}")
        console.print(table)


def main(argv=None) -> ParetoResult:
    parser = argparse.ArgumentParser(prog="python -m analysis.pareto", description=__doc__.split("\n")[0])
    parser.add_argument("runs", help="folder of run directories (e.g. runs/)")
    parser.add_argument("--out", default="reports/pareto", help="output folder (default: reports/pareto)")
    parser.add_argument("--ref", type=float, nargs="+", default=None,
                        help="hypervolume reference point, one value per eval axis (default: 0 on every axis)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed (default 0)")
    args = parser.parse_args(argv)
    try:
        tables = load_runs(args.runs, steps=False)
        result = analyse(tables.runs, ref=args.ref, n_boot=args.n_boot, level=args.level, seed=args.seed)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    report = write_outputs(result, Path(args.out), level=args.level)
    print_summary(result)
    print(f"report: {report}")
    return result


if __name__ == "__main__":
    main()
