"""`python -m analysis.stability runs/ [--smooth 15] [--weights 0.5,0.5] [--out DIR]`: training dynamics.

Per task, model and base-weight setting, one figure of panels over optimiser steps: each objective's
reward mean, within-group std (the paper's variance collapse) and effective weight (DVAO's dynamic w~),
then mean A^2 and max |A| (the paper's stability claim), grad norm and the zero-variance group fraction.
Each method is one line: the mean over seeds, with a band of +-1 std over seeds. --smooth W applies a
centred moving average of W steps to every run before averaging (the paper uses W = 15).
Outputs in --out (default reports/stability): stability.csv (long: one row per curve point),
stability_<task>_<model>_w<weights>.png/.pdf and stability.md embedding them.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from analysis import style
from analysis.checks import check_out_dir
from workbench.outputs import claim_report_dir
from analysis.load import load_runs, panel_labels, slug
from workbench import metrics as M

CURVE_KEYS = ("panel", "task", "model", "weights", "method")


def panel_keys(objectives) -> list[str]:
    """Metric keys plotted, in panel order, for a task with these objectives."""
    per_objective = [f(o) for f in (M.reward_mean, M.group_std, M.weight) for o in objectives]
    return per_objective + [M.ADV_SQ_MEAN, M.ADV_ABS_MAX, M.GRAD_NORM, M.ZERO_VAR_FRAC]


def smooth(steps: pd.DataFrame, keys: list[str], window: int | None) -> pd.DataFrame:
    """Centred moving average of ``keys`` over ``window`` optimiser steps within each run (edges average
    what exists); ``None`` or 1 returns ``steps`` unchanged. Input: the long per-step table, sorted by
    run and step. A run that logs every n-th step averages round(window / n) records (at least 1), so the
    window means the same number of steps whatever the logging interval (the bandit logs every 10)."""
    if window is not None and window < 1:
        raise ValueError(f"--smooth must be a positive number of steps, got {window}")
    if not window or window == 1:
        return steps
    out = steps.copy()
    interval = steps.groupby("run", sort=False)[M.STEP].transform(lambda s: s.diff().median()).fillna(1)
    records = (window / interval.clip(lower=1)).round().clip(lower=1).astype(int)
    for size in records.unique():   # one vectorised rolling per distinct logging interval, usually one
        part = steps[records == size]
        rolled = part.groupby("run", sort=False)[keys].rolling(int(size), center=True, min_periods=1).mean()
        out.loc[part.index, keys] = rolled.reset_index(level=0, drop=True).loc[part.index, keys]
    return out


def curves(runs: pd.DataFrame, steps: pd.DataFrame, keys: list[str], window: int | None = None) -> pd.DataFrame:
    """Long table: one row per (panel, weights, method, metric, step) with ``mean``, ``std`` and
    ``n_seeds`` over the seeds logging that step. Keys missing from ``steps`` are left out. A panel is a
    task and model (and split-axis values, analysis.load.panel_labels); added here when ``runs`` lacks it."""
    if "panel" not in runs.columns:
        runs = runs.assign(panel=panel_labels(runs))
    keys = [k for k in keys if k in steps.columns and steps[k].notna().any()]
    if not keys:
        raise ValueError(f"none of the metric keys {keys} are in the metrics files; is this a workbench run store?")
    data = smooth(steps[["run", M.STEP, *keys]], keys, window)
    data = data.merge(runs[["run", *CURVE_KEYS]], on="run", how="inner")
    grouped = data.groupby([*CURVE_KEYS, M.STEP], sort=True)[keys]
    stats = pd.concat({"mean": grouped.mean(), "std": grouped.std(ddof=1), "n_seeds": grouped.count()}, axis=1)
    stats.columns.names = ["stat", "metric"]
    long = stats.stack("metric", future_stack=True).reset_index()
    return long[[*CURVE_KEYS, "metric", M.STEP, "mean", "std", "n_seeds"]]


def plot(curve: pd.DataFrame, keys: list[str], title: str, stem: Path) -> list[str]:
    """One panel per key, one line per method (mean over seeds) with a +-1 std band."""
    import matplotlib.pyplot as plt

    keys = [k for k in keys if k in set(curve["metric"])]
    ncols = min(4, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    methods = style.method_order(curve["method"].unique())
    for ax, key in zip(axes.flat, keys):
        for n, m in enumerate(methods):
            c = curve[(curve.metric == key) & (curve.method == m)]
            if c.empty:
                continue
            band = c["std"].fillna(0)
            # markers at staggered steps: curves that coincide (rc's, ac's and gdpo's static weights) all show
            every = max(len(c) // 6, 1)
            ax.plot(c[M.STEP], c["mean"], color=style.color(m), label=style.label(m), lw=1.4, ls=style.linestyle(m),
                    marker=style.marker(m), ms=4.5, markevery=(n * every // max(len(methods), 1) % every, every))
            ax.fill_between(c[M.STEP], c["mean"] - band, c["mean"] + band, color=style.color(m), alpha=0.18, lw=0)
        ax.set_title(key, fontsize=9), ax.grid(alpha=0.3), ax.set_xlabel("step", fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    style.shared_legend(fig, axes.flat, fontsize=10)
    paths = style.save(fig, stem)
    plt.close(fig)
    return paths


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="python -m analysis.stability", description=__doc__.split("\n")[0])
    parser.add_argument("runs", help="folder of run directories (e.g. runs/)")
    parser.add_argument("--out", default="reports/stability", help="output folder (default: reports/stability)")
    parser.add_argument("--smooth", type=int, default=None, metavar="W",
                        help="centred moving-average window in steps (the paper uses 15; default: none)")
    parser.add_argument("--weights", default=None, help="only this base-weight setting, e.g. 0.5,0.5")
    args = parser.parse_args(argv)
    if args.smooth is not None and args.smooth < 1:
        parser.error(f"--smooth must be a positive number of steps, got {args.smooth}")
    try:
        check_out_dir(args.out)
        tables = load_runs(args.runs)
        runs = tables.runs
        if args.weights is not None:
            runs = runs[runs.weights == args.weights]
            if runs.empty:
                raise ValueError(f"no run has weights {args.weights}; present: {sorted(set(tables.runs.weights))}")
        out = claim_report_dir(args.out)
        frames, lines = [], ["# Training stability", "",
                             f"Mean over seeds, band +-1 std; smoothing window: {args.smooth or 'none'}.", ""]
        runs = runs.assign(panel=panel_labels(runs))
        for (panel, weights), grp in runs.groupby(["panel", "weights"], sort=True):
            keys = panel_keys(grp["objectives"].iloc[0])
            curve = curves(grp, tables.steps, keys, args.smooth)
            frames.append(curve)
            stem = f"stability_{slug(panel)}_w{weights.replace(',', '-')}"
            plot(curve, keys, f"{panel} / weights {weights}", out / stem)
            lines += [f"## {panel} / weights {weights}", "",
                      f"Methods: {', '.join(style.method_order(grp.method.unique()))}; "
                      f"seeds per method: {grp.groupby('method').seed.nunique().max()}.", "", f"![{stem}]({stem}.png)", ""]
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(out / "stability.csv", index=False)
    (out / "stability.md").write_text("\n".join(lines))
    print(f"{len(frames)} figure(s) and stability.csv written to {out}; report: {out / 'stability.md'}")
    return table


if __name__ == "__main__":
    main()
