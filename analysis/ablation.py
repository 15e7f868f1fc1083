"""`python -m analysis.ablation runs/ --by G|K|weight|model|noise [--out DIR]`: ablation tables.

For each task and model (task alone with --by model; split further by any other varying split axis,
see analysis.load.SPLIT_AXES), one table per metric: rows are methods, columns the
levels of the ablated axis, cells the mean +- sample std over seeds (the seed count in each table's title),
the best mean of a column in bold only where every cell of the column has at least MIN_SEEDS seeds (highest
mean; lowest for a lower-is-better metric such as eval/regret).
Metrics: the hypervolume of each seed's points at that level (reference point 0 on every axis, as in
analysis.pareto; several weight settings at one level form that seed's front) and every final eval
metric (averaged over a seed's runs at that level). ``--by K`` computes the hypervolume on the eval
axes every K shares (a K=3 run's extra objective has no K=2 counterpart). Outputs in --out (default reports/ablation):
ablation_<by>.md, ablation_<by>.tex and ablation_<by>.csv (long: one row per cell, ``best`` flag).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis import frontier as F
from analysis import style
from analysis.claims import higher_is_better
from analysis.checks import check_out_dir
from workbench.outputs import claim_report_dir
from analysis.load import load_runs, panel_labels, require_columns
from analysis.tables import latex, markdown, mean_std

AXES = {"G": "G", "K": "K", "weight": "weight", "model": "model", "noise": "noise"}
HV = "hypervolume"
MIN_SEEDS = 2     # a column whose best mean rests on one seed of some method gets no bold


def seed_metrics(runs: pd.DataFrame, by: str, ref=None) -> pd.DataFrame:
    """One row per (panel, method, level, seed): hypervolume of that seed's points at that level and each
    eval metric averaged over them. ``by`` is a runs column; a panel is a task and model (task alone for
    --by model) plus the values of the other split axes that vary (analysis.load.panel_labels)."""
    runs = runs.assign(panel=panel_labels(runs, exclude=(by,)))
    rows = []
    for panel, panel_runs in runs.groupby("panel", sort=True):
        axes = F.axes_of(panel_runs, shared=by == "K")  # K changes the axes: compare on the shared ones
        r = F.reference_point(len(axes), ref)
        panel_runs, _ = F.drop_missing(panel_runs, axes, panel)   # a cell left with no run stays empty, not 0
        for (method, level, seed), grp in panel_runs.groupby(["method", by, "seed"], sort=False, dropna=False):
            rows.append({"panel": panel, "task": grp.task.iloc[0], "method": method, by: level, "seed": seed,
                         "n_runs": len(grp), HV: F.hypervolume(grp[axes].to_numpy(), r), **grp[axes].mean().to_dict()})
    return pd.DataFrame(rows)


def summarise(per_seed: pd.DataFrame, by: str) -> pd.DataFrame:
    """Long table: one row per (panel, metric, method, level) with mean, std, n_seeds and ``best``: the best
    mean of its column (same panel, metric and level; highest, or lowest for a lower-is-better metric), and
    only where every cell of the column has at least MIN_SEEDS seeds, so that no single seed decides it."""
    group = ["panel", "task", "method", by]
    metrics = [HV] + sorted(c for c in per_seed.columns if c.startswith("eval/"))
    long = per_seed.melt(id_vars=[*group, "seed"], value_vars=metrics, var_name="metric").dropna(subset=["value"])
    out = long.groupby([*group, "metric"], sort=False, dropna=False)["value"].agg(
        mean="mean", std=lambda v: v.std(ddof=1), n_seeds="count").reset_index()
    column = out.groupby(["panel", by, "metric"], dropna=False)
    top = pd.Series([m if higher_is_better(metric) else -m for m, metric in zip(out["mean"], out["metric"])],
                    index=out.index)
    enough = column["n_seeds"].transform("min") >= MIN_SEEDS
    out["best"] = top.eq(top.groupby([out.panel, out[by], out.metric], dropna=False).transform("max")) & enough
    return out


def _level_order(levels) -> list:
    try:
        return sorted(levels, key=float)
    except (TypeError, ValueError):
        return sorted(levels, key=str)


def tables(summary: pd.DataFrame, by: str):
    """Yield (title, cells, bold) per panel and metric: cells is a method x level frame of "mean ± std"."""
    for panel, grp in summary.groupby("panel", sort=True):
        for metric in [HV] + sorted(m for m in grp.metric.unique() if m != HV):
            g = grp[grp.metric == metric]
            if g.empty:
                continue
            rows = style.method_order(g.method.unique())
            cols = _level_order(g[by].unique())
            stds = g.pivot(index="method", columns=by, values="std").reindex(index=rows, columns=cols)
            means = g.pivot(index="method", columns=by, values="mean").reindex(index=rows, columns=cols)
            bold = g.pivot(index="method", columns=by, values="best").reindex(index=rows, columns=cols)
            cells = pd.DataFrame({c: [mean_std(means.at[r, c], stds.at[r, c]) for r in rows] for c in cols},
                                 index=pd.Index(rows, name="method"))
            cells.columns = [f"{by}={c}" for c in cols]
            lo, hi = int(g.n_seeds.min()), int(g.n_seeds.max())
            seeds = f"{lo} seed{'s' * (lo > 1)}" if lo == hi else f"{lo}-{hi} seeds"
            yield (f"{panel}: {metric} (mean ± std over {seeds})", cells,
                   bold.fillna(False).astype(bool).set_axis(cells.columns, axis=1))


def _lower() -> list[str]:
    from analysis.claims import LOWER_IS_BETTER
    return [m for m in LOWER_IS_BETTER if m.startswith("eval/")]


def main(argv=None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="python -m analysis.ablation", description=__doc__.split("\n")[0])
    parser.add_argument("runs", help="folder of run directories (e.g. runs/)")
    parser.add_argument("--by", required=True, choices=sorted(AXES), help="the ablated config axis")
    parser.add_argument("--out", default="reports/ablation", help="output folder (default: reports/ablation)")
    parser.add_argument("--ref", type=float, nargs="+", default=None,
                        help="hypervolume reference point, one value per eval axis (default: 0 on every axis)")
    args = parser.parse_args(argv)
    by = AXES[args.by]
    try:
        check_out_dir(args.out)
        runs = load_runs(args.runs, steps=False).runs
        require_columns(runs, [by], f"--by {args.by}")
        summary = summarise(seed_metrics(runs, by, args.ref), by)
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    out = claim_report_dir(args.out)
    md = [f"# Ablation over {args.by}", "",
          "Cells: the mean over seeds ± the sample std (n - 1) of the per-seed values; each table's title gives the",
          f"seeds per cell. Bold: the best mean of its column (highest; lowest for {', '.join(_lower())}), marked only",
          f"where every cell of the column has at least {MIN_SEEDS} seeds. It is descriptive, not a tested difference:",
          "`python -m analysis.pareto --confirm N` makes claims and confirms them on fresh seeds.", ""]
    tex = []
    for title, cells, bold in tables(summary, by):
        md += [f"## {title}", "", markdown(cells, bold)]
        tex.append(latex(cells, bold, caption=f"Ablation over {args.by}, {title}"))
    stem = out / f"ablation_{args.by}"
    summary.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".md").write_text("\n".join(md))
    stem.with_suffix(".tex").write_text("\n".join(tex))
    print("\n".join(md))
    print(f"written: {stem}.md, {stem}.tex, {stem}.csv")
    return summary


if __name__ == "__main__":
    main()
