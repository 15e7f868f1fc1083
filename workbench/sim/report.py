"""Findings of the bandit sweeps: per-axis tables with bootstrap CIs, paired winners, one figure per sweep.

    python -m workbench.sim.report runs --out docs/figures

Reads every finished run of the sim_* sweeps under ``runs`` (analysis.load); a sweep's runs are those
whose other three axes sit at BASE (the shared design point is run once and used by all four). For each
sweep's axis (G, K, aux_noise, correlation) it reports, per level and method, the mean over seeds and a 95% percentile
bootstrap interval (analysis.frontier.bootstrap_ci) of three final eval metrics:
    eval/regret           gap to the best equal-weight scalarised reward (lower is better; RC's own target)
    eval/front_distance   how far every objective could still improve at once (lower; 0 = Pareto-optimal)
    eval/hv_frac          the run's hypervolume / the best single-point hypervolume (higher)
A seed fixes the bandit, so methods are compared *paired by seed*: the winner of a level is the best mean,
and it is called clear when the bootstrap interval of its paired difference to every other method
excludes 0. The paired probability that DVAO beats each other method (share of seeds, with a Wilcoxon
signed-rank p-value) restates those comparisons in the measures of analysis.stats. The small-group
variants of DVAO (``VARIANTS``) get their own paired comparisons, per level: the variant minus DVAO, and
minus the best of the paper's four at that level. Writes <out>/sim_<sweep>.png
and <out>/sim_findings.md, plus <out>/sim_vs_dvao.png (every method's paired regret gap to DVAO, one panel
per sweep), and prints the markdown.

Marks: ``CLEAR`` (†) is "the paired bootstrap intervals exclude 0 on these seeds", an exploratory mark on the
seeds that picked the winner, never "*": a star means confirmed on fresh seeds, which only
``python -m analysis.pareto --plan`` decides (docs/analysis.md#claims-selection-and-confirmation-seeds).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from workbench import metrics as M

CLEAR = "†"   # every paired interval excludes 0 on the seeds that picked the winner: exploratory, not confirmed

AXES = {"sim_G": "G", "sim_K": "K", "sim_noise": "aux_noise", "sim_corr": "correlation"}
# The point every sweep varies one axis away from; its runs are shared (sweeps/sim_*.yaml).
BASE = {"G": 16, "K": 2, "aux_noise": 0.0, "correlation": "conflicting"}
METRICS = [(M.eval_metric("regret"), "regret", False), (M.eval_metric("front_distance"), "front distance", False),
           (M.eval_metric("hv_frac"), "hv_frac", True)]
ORDER = {"correlation": ["aligned", "independent", "conflicting"]}
PAPER = ("rc", "ac", "gdpo", "dvao")                    # the DVAO paper's four estimators
VARIANTS = ("dvao_shrink", "dvao_shrink_ema")           # DVAO for small groups (docs/estimators.md)


def paired_diff_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over paired seeds and its 95% percentile-bootstrap interval (resampling seeds;
    analysis.stats, scipy.stats.bootstrap)."""
    from analysis import stats as S

    return S.mean_interval(np.asarray(a, float) - np.asarray(b, float), n_boot=n_boot, seed=seed)


def dvao_poi(runs: pd.DataFrame, axis: str, metric: str, higher: bool) -> str:
    """A table per level: P(DVAO beats each other method on the same bandit), the paired probability of
    improvement over seeds (analysis.stats), as `share (wins/seeds, Wilcoxon p)`."""
    from analysis import stats as S
    from analysis.style import method_order

    sign = 1.0 if higher else -1.0
    rows, methods = [], []
    for level in levels(runs, axis):
        t = runs[runs[axis] == level].pivot_table(index="seed", columns="method", values=metric)
        if "dvao" not in t:
            continue
        methods = [m for m in method_order(t.columns) if m != "dvao"]
        cells = []
        for m in methods:
            poi, _, _ = S.paired_probability_of_improvement(sign * t["dvao"], sign * t[m])
            n = int((t["dvao"].notna() & t[m].notna()).sum())
            p = S.wilcoxon_p(t["dvao"], t[m])
            cells.append(f"{poi:.2f} ({poi * n:g}/{n}, " + ("equal on every seed)" if p != p else f"p {p:.3f})"))
        rows.append(f"| {level} | " + " | ".join(cells) + " |")
    if not rows:
        return ""
    return (f"| {axis} | " + " | ".join(f"P(dvao beats {m})" for m in methods) + " |\n"
            + "|---" * (len(methods) + 1) + "|\n" + "\n".join(rows))


def select(runs: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The runs of ``axis``'s sweep: every other axis at its BASE value."""
    keep = np.ones(len(runs), bool)
    for other, value in BASE.items():
        if other != axis:
            keep &= (runs[other] == value).to_numpy()
    return runs[keep]


def levels(runs: pd.DataFrame, axis: str) -> list:
    present = list(runs[axis].unique())
    return [v for v in ORDER[axis] if v in present] if axis in ORDER else sorted(present)


def summarise(runs: pd.DataFrame, axis: str, metric: str, higher: bool) -> pd.DataFrame:
    """One row per (level, method): mean, lo, hi over seeds, n, and whether the method is the level's winner."""
    from analysis.frontier import bootstrap_ci
    from analysis.style import method_order

    rows = []
    for level in levels(runs, axis):
        at = runs[runs[axis] == level]
        table = at.pivot_table(index="seed", columns="method", values=metric)
        means = table.mean()
        best = means.idxmax() if higher else means.idxmin()
        clear = table.shape[1] > 1 and all((paired_diff_ci(table[best], table[m])[1] > 0) if higher else
                    (paired_diff_ci(table[best], table[m])[2] < 0) for m in table.columns if m != best)
        for method in method_order(table.columns):
            mean, lo, hi = bootstrap_ci(table[method].to_numpy())
            rows.append(dict(level=level, method=method, mean=mean, lo=lo, hi=hi, n=int(table[method].notna().sum()),
                             winner=method == best, clear=clear and method == best))
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, axis: str, name: str) -> str:
    """Levels as rows, methods as columns, `mean [lo, hi]`; the best mean in bold, CLEAR when it is clear."""
    methods = list(dict.fromkeys(summary["method"]))
    lines = [f"| {axis} | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for level, part in summary.groupby("level", sort=False):
        cells = []
        for _, r in part.set_index("method").loc[methods].iterrows():
            cell = f"{r['mean']:.4f} [{r['lo']:.4f}, {r['hi']:.4f}]"
            cells.append(f"**{cell}**{CLEAR if r['clear'] else ''}" if r["winner"] else cell)
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return f"{name}\n\n" + "\n".join(lines)


def dvao_gaps(runs: pd.DataFrame, axis: str, metric: str) -> list[str]:
    """Per level: DVAO minus each other method, paired by seed, with its 95% interval."""
    out = []
    for level in levels(runs, axis):
        t = runs[runs[axis] == level].pivot_table(index="seed", columns="method", values=metric)
        if "dvao" not in t:
            continue
        parts = [f"{m} {d:+.4f} [{lo:+.4f}, {hi:+.4f}]" for m in t.columns if m != "dvao"
                 for d, lo, hi in [paired_diff_ci(t["dvao"], t[m])]]
        out.append(f"- {axis}={level}: dvao minus " + "; ".join(parts))
    return out


def variant_gaps(runs: pd.DataFrame, axis: str, metric: str, higher: bool) -> str:
    """A table per level: each small-group variant minus DVAO and minus the best of the paper's four (by
    mean at that level), paired by seed with 95% intervals; CLEAR marks an interval that excludes 0."""
    def cell(a, b):
        d, lo, hi = paired_diff_ci(a, b)
        return f"{d:+.5f} [{lo:+.5f}, {hi:+.5f}]" + (CLEAR if lo > 0 or hi < 0 else "")

    rows = []
    for level in levels(runs, axis):
        t = runs[runs[axis] == level].pivot_table(index="seed", columns="method", values=metric)
        paper = [m for m in PAPER if m in t]
        if "dvao" not in t or not paper:
            continue
        best = t[paper].mean().idxmax() if higher else t[paper].mean().idxmin()
        for v in (v for v in VARIANTS if v in t):
            rows.append(f"| {level} | {v} | {cell(t[v], t['dvao'])} | {best} | {cell(t[v], t[best])} |")
    if not rows:
        return ""
    head = (f"| {axis} | variant | minus dvao | best of the four | minus that best |\n"
            "|---|---|---|---|---|\n")
    return head + "\n".join(rows)


def _style(method: str) -> tuple[str, str]:
    from analysis.style import color, marker

    return color(method), marker(method)


def plot(runs: pd.DataFrame, steps: pd.DataFrame | None, sweep: str, axis: str, out: Path) -> Path:
    import matplotlib.pyplot as plt
    from analysis.style import method_order, shared_legend

    panels = list(METRICS) + ([("weight", "final effective weight of the aux objective", None)]
                              if sweep == "sim_noise" and steps is not None else [])
    fig, axs = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    lv = levels(runs, axis)
    xs = np.arange(len(lv))
    methods = method_order(runs["method"].unique())
    width = min(0.06, 0.6 / max(len(methods), 1))          # the methods of a level side by side, within +-0.3
    for ax, (metric, title, higher) in zip(axs, panels):
        data = runs
        if metric == "weight":   # each run's last logged effective weight of the last (auxiliary) objective
            last = steps.sort_values("step").groupby("run").tail(1).set_index("run")
            data = runs.assign(weight=runs["run"].map(last[M.weight(f"obj{int(runs['K'].max())}")]))
        summ = summarise(data, axis, metric, bool(higher))
        for i, method in enumerate(methods):
            s = summ[summ["method"] == method]
            x = xs[[lv.index(v) for v in s["level"]]] + (i - (len(methods) - 1) / 2) * width
            colour, mark = _style(method)
            ax.errorbar(x, s["mean"], yerr=[s["mean"] - s["lo"], s["hi"] - s["mean"]], color=colour,
                        marker=mark, label=method, capsize=2, lw=1.2, ms=4,
                        ls="--" if method in VARIANTS else "-")
        ax.set_xticks(xs, [str(v) for v in lv])
        ax.set_xlabel(axis)
        ax.set_title(title + ("" if higher is None else (" (higher is better)" if higher else " (lower is better)")),
                     fontsize=9)
        if metric != M.eval_metric("hv_frac") and metric != "weight":
            ax.set_yscale("log")
    fig.suptitle(f"{sweep}: mean over seeds, 95% bootstrap CI", fontsize=10)
    fig.tight_layout()
    shared_legend(fig, axs)   # one legend for every panel, below them
    path = out / f"{sweep}.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_vs_dvao(parts: dict[str, pd.DataFrame], out: Path) -> Path | None:
    """One panel per sweep: every method's regret minus DVAO's, paired by seed (mean, 95% interval), per level."""
    import matplotlib.pyplot as plt
    from analysis.style import method_order, shared_legend

    parts = {k: v for k, v in parts.items() if "dvao" in set(v["method"])}
    if not parts:
        return None
    metric = M.eval_metric("regret")
    fig, axs = plt.subplots(1, len(parts), figsize=(4.4 * len(parts), 3.6), squeeze=False)
    for ax, (sweep, runs) in zip(axs[0], parts.items()):
        axis = AXES[sweep]
        lv = levels(runs, axis)
        xs = np.arange(len(lv))
        methods = [m for m in method_order(runs["method"].unique()) if m != "dvao"]
        width = min(0.06, 0.6 / max(len(methods), 1))
        for i, method in enumerate(methods):
            pts = []
            for x, level in zip(xs, lv):
                t = runs[runs[axis] == level].pivot_table(index="seed", columns="method", values=metric)
                if method in t:
                    pts.append((x + (i - (len(methods) - 1) / 2) * width, *paired_diff_ci(t[method], t["dvao"])))
            if not pts:
                continue
            x, d, lo, hi = (np.array(c) for c in zip(*pts))
            colour, mark = _style(method)
            ax.errorbar(x, d, yerr=[d - lo, hi - d], color=colour, marker=mark, ms=4, capsize=2, lw=1.1,
                        ls="--" if method in VARIANTS else "-", label=method)
        ax.axhline(0.0, color="black", lw=0.8)
        ax.set_yscale("symlog", linthresh=2e-4)      # gaps of 1e-4 and of 1e-2 both readable
        ax.set_xticks(xs, [str(v) for v in lv])
        ax.set_xlabel(axis)
        ax.set_title(f"{sweep}: regret minus dvao's (below 0: better)", fontsize=9)
    fig.tight_layout()
    shared_legend(fig, axs[0])
    path = out / "sim_vs_dvao.png"
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def main(argv=None) -> str:
    from analysis.load import load_runs

    ap = argparse.ArgumentParser(description="Findings of the bandit sweeps (sim_*)")
    ap.add_argument("root", help="directory holding the runs (e.g. runs)")
    ap.add_argument("--out", default="docs/figures", help="where sim_<sweep>.png and sim_findings.md go")
    args = ap.parse_args(argv)
    from workbench.outputs import FolderRefused, check_report_dir, claim_report_dir

    try:
        check_report_dir(args.out)
    except FolderRefused as exc:
        ap.error(str(exc))
    tables = load_runs(args.root, steps=True)
    runs = tables.runs[(tables.runs["task"] == "bandit") & tables.runs["sweep"].isin(list(AXES))]
    runs = runs.drop_duplicates(["method", "seed", *BASE])
    if runs.empty:
        raise SystemExit(f"no finished sim_* bandit runs under {args.root}: run `make sweep-sim` first")
    out = claim_report_dir(args.out)
    doc, parts = [], {}
    for sweep, axis in AXES.items():
        part = select(runs, axis)
        if part.empty:
            continue
        parts[sweep] = part
        steps = tables.steps[tables.steps["run"].isin(part["run"])] if tables.steps is not None else None
        fig = plot(part, steps, sweep, axis, out)
        doc.append(f"### {sweep} ({len(part)} runs, {part['seed'].nunique()} seeds)\n\n![{sweep}]({fig.name})")
        for metric, title, higher in METRICS:
            doc.append(markdown(summarise(part, axis, metric, higher), axis, f"**{title}** "
                                f"({'higher' if higher else 'lower'} is better)"))
        doc.append("DVAO paired differences, regret (negative = DVAO better):\n\n"
                   + "\n".join(dvao_gaps(part, axis, M.eval_metric("regret"))))
        doc.append("Probability that DVAO beats each method on the same bandit, regret (share of seeds, "
                   "ties 1/2; wins/seeds; two-sided Wilcoxon signed-rank p: with 5 seeds it cannot go below "
                   "0.0625, so no ranking here passes a paired rank test at 5%):\n\n"
                   + dvao_poi(part, axis, M.eval_metric("regret"), higher=False))
        table = variant_gaps(part, axis, M.eval_metric("regret"), higher=False)
        if table:
            doc.append("Small-group variants, regret, paired by seed (negative = the variant is better; "
                       f"{CLEAR} = the 95% interval excludes 0 on these seeds; not a confirmation):\n\n" + table)
    overview = plot_vs_dvao(parts, out)
    if overview is not None:
        doc.insert(0, "### Every method against DVAO, paired by seed\n\n"
                      f"![regret minus dvao]({overview.name})\n\nThe y axis is linear within +-0.0002 and "
                      "logarithmic beyond; bars are 95% bootstrap intervals of the paired difference.")
    text = "\n\n".join(doc) + "\n"
    (out / "sim_findings.md").write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
