"""`python -m analysis.pareto runs/ [--out DIR] [--ref 0 0] [--eafdiff A B]`: Pareto fronts, hypervolumes and
what the seeds can tell apart.

For each panel (task and model, split by any varying config axis): the runs no other run dominates,
each method's front across its weight sweep (seed-averaged points), each method's hypervolume per seed
with its mean and bootstrap CI, how many of a method's sweep points another method's front dominates,
the probability of improvement of every ordered pair of methods, which pairs the seeds can rank and how
many seeds the others would need, attainment surfaces across seeds and the EAF difference of two methods
(2-D panels), and IGD+/additive epsilon where the task has a known front. Across panels: mean and IQM of
the normalised hypervolume with stratified bootstrap intervals, and performance profiles.
Outputs in --out (default reports/pareto): report.md, CSVs and PNG+PDF plots (list in docs/analysis.md).
Reference point: 0 on every axis unless --ref is given (see analysis.frontier).
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import attainment, claims as C, compare, indicators
from analysis import frontier as F
from analysis import style
from analysis.checks import check_out_dir
from analysis.load import SPLIT_AXES, load_runs, panel_labels
from analysis.pareto_report import plot_fronts, plot_hypervolume, write_outputs  # noqa: F401 (the API)
from analysis.tables import fmt


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
    seed_hv: pd.DataFrame       # panel, method, seed, hypervolume, hv_norm, n_points, task, model
    improvement: pd.DataFrame   # compare.improvement_table
    aggregate: pd.DataFrame     # compare.aggregate_table
    profile: pd.DataFrame       # compare.profile_table
    indicators: pd.DataFrame    # indicators.indicator_table (empty: no known front)
    eaf: pd.DataFrame           # attainment.eaf_table
    eafdiff: dict              # panel -> (a, b) compared by the EAF difference
    excluded: tuple = ()       # runs left out for a NaN eval value: (panel, run)
    level: float = 0.95
    power: float = 0.8
    claims: pd.DataFrame | None = None   # analysis.claims: select_claims, or confirm_claims with a plan
    metric: str = C.HYPERVOLUME          # what the claims compare
    plan: dict | None = None             # the confirmation plan the claims were tested against


def check_settings(n_boot: int, level: float, power: float) -> None:
    """Raise a ValueError saying how to fix a bad bootstrap/test setting."""
    if n_boot < 1:
        raise ValueError(f"--n-boot must be a positive number of bootstrap resamples (e.g. 2000), got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"--level must be a confidence level in (0, 1) such as 0.95, got {level}")
    if not 0 < power < 1:
        raise ValueError(f"--power must be in (0, 1) such as 0.8, got {power}")


def eafdiff_pair(hv: pd.DataFrame, requested=None) -> tuple[str, str] | None:
    """The two methods of one panel's hypervolume table to compare by EAF difference: ``requested`` when
    both ran there; by default dvao against the best other method by mean hypervolume (its strongest
    rival), or without dvao the two best methods; None when fewer than two methods ran."""
    ranked = hv.sort_values("hv_mean", ascending=False).method.tolist()
    if requested:
        return tuple(requested) if set(requested) <= set(ranked) else None
    if len(ranked) < 2:
        return None
    if "dvao" in ranked:
        return "dvao", next(m for m in ranked if m != "dvao")
    return ranked[0], ranked[1]


def _normalise(per_seed: pd.DataFrame, runs: pd.DataFrame, axes: list[str], ref, panel: str) -> pd.Series:
    """Per-seed hypervolume / the hypervolume of the panel's reference front (every run of every method
    and seed): 1 = as good as everything seen in the panel together. NaN, with a warning, when no run
    beats the reference point on every axis (every hypervolume is then 0 and says nothing)."""
    best = F.hypervolume(runs[axes].to_numpy(), ref)
    if best > 0:
        return per_seed["hypervolume"] / best
    warnings.warn(f"{panel}: no run beats the reference point {ref.tolist()} on every axis, so every hypervolume "
                  f"is 0; lower --ref", stacklevel=3)
    return pd.Series(np.nan, index=per_seed.index)


def analyse(runs: pd.DataFrame, *, ref=None, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
            power: float = 0.8, eafdiff=None, metric: str = C.HYPERVOLUME, plan: dict | None = None,
            claim_methods=None) -> ParetoResult:
    """Run every Pareto computation on a runs table (analysis.load); pure, no I/O.

    Runs are analysed per task and model, and separately per value of any split axis (load.SPLIT_AXES,
    e.g. G) that varies among them: a front mixing group sizes would compare unlike experiments. A run
    with a missing (NaN) eval value is left out with a warning. ``eafdiff``: (a, b) methods for the EAF
    difference plot (default: see eafdiff_pair); ``power``: for the seed counts (compare.improvement_table)."""
    check_settings(n_boot, level, power)
    if eafdiff and len(set(eafdiff)) != 2:
        raise ValueError(f"--eafdiff needs two different methods, got {' '.join(eafdiff)}")
    runs = runs.copy()
    runs["panel"] = panel_labels(runs)
    runs["nondominated"] = False
    points, hvs, doms, seeds, axes_by, refs, excluded, pairs, kept = [], [], [], [], {}, {}, [], {}, []
    for panel, grp in runs.groupby("panel", sort=True):
        axes = F.axes_of(grp)
        r = F.reference_point(len(axes), ref)
        grp, missing = F.drop_missing(grp, axes, panel)
        excluded += [(panel, run) for run in missing]
        if grp.empty:
            continue
        kept.append(grp)
        runs.loc[grp.index, "nondominated"] = F.flag_nondominated(grp, axes)
        pts = F.sweep_points(grp, axes)
        tag = {"panel": panel, **{a: grp[a].iloc[0] for a in SPLIT_AXES if a in grp and grp[a].nunique() == 1}}
        per_seed = F.seed_hypervolumes(grp, axes, r)
        per_seed["hv_norm"] = _normalise(per_seed, grp, axes, r, panel)
        seeds.append(per_seed.assign(panel=panel))
        points.append(pts.assign(**tag))
        hv = F.hypervolume_table(grp, axes, r, n_boot=n_boot, level=level, seed=seed, per_seed=per_seed).assign(**tag)
        hvs.append(hv)
        doms.append(F.dominance_table(pts, axes).assign(**tag))
        axes_by[panel], refs[panel] = axes, r
        pair = eafdiff_pair(hv, eafdiff) if len(axes) == 2 else None
        if pair:
            pairs[panel] = pair
    if not kept:
        raise ValueError("every run has a missing (NaN) eval metric; nothing to analyse")
    if eafdiff and not pairs:
        raise ValueError(f"--eafdiff {' '.join(eafdiff)}: no 2-D panel has runs of both; methods present: "
                         f"{', '.join(style.method_order(runs.method.unique()))}")
    used = pd.concat(kept)
    labels = C.unit_labels(used, metric)
    used, runs["unit"] = used.assign(unit=labels), labels.reindex(runs.index)
    seed_hv = pd.concat(seeds, ignore_index=True)[["panel", "method", "seed", "hypervolume", "hv_norm", "n_points",
                                                   "task", "model"]]
    kw = dict(n_boot=n_boot, level=level, seed=seed)
    claims = _claims(used, seed_hv, metric, plan, claim_methods)
    return ParetoResult(
        runs, pd.concat(points, ignore_index=True), pd.concat(hvs, ignore_index=True),
        pd.concat(doms, ignore_index=True), axes_by, refs, seed_hv=seed_hv,
        improvement=compare.improvement_table(seed_hv, power=power, **kw),
        aggregate=compare.aggregate_table(seed_hv, **kw), profile=compare.profile_table(seed_hv, **kw),
        indicators=indicators.indicator_table(used, axes_by), eaf=attainment.eaf_table(used, axes_by),
        eafdiff=pairs, excluded=tuple(excluded), level=level, power=power, claims=claims, metric=metric, plan=plan)


def _claims(used: pd.DataFrame, seed_hv: pd.DataFrame, metric: str, plan: dict | None,
            claim_methods=None) -> pd.DataFrame:
    """Selection claims over every seed, or, with a plan, its claims tested on its confirmation seeds."""
    if plan is not None and plan["metric"] != metric:
        raise ValueError(f"the plan's claims are on --metric {plan['metric']}; rerun with --metric {plan['metric']}")
    scores = C.seed_scores(used, metric, seed_hv)
    if plan is None:
        if claim_methods:
            unknown = sorted(set(claim_methods) - set(scores.method))
            if unknown:
                raise ValueError(f"--claim-methods {', '.join(unknown)}: no run of that method; methods present: "
                                 f"{', '.join(style.method_order(scores.method.unique()))}")
            scores = scores[scores.method.isin(claim_methods)]
        return C.select_claims(scores, C.higher_is_better(metric))
    C.check_same_config(used, plan)
    return C.confirm_claims(scores, plan)


def claims_only(runs: pd.DataFrame, *, ref=None, metric: str = C.HYPERVOLUME, plan: dict | None = None,
                claim_methods=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs with ``panel`` and ``unit``, the claims table): ``analyse``'s claims without the rest of the
    analysis (no bootstrap, attainment or plot), for checking a plan on many runs. Same panels, units and
    per-seed scores as ``analyse``; a run with a missing eval value is left out, with a warning."""
    runs = runs.copy()
    runs["panel"] = panel_labels(runs)
    kept, seeds = [], []
    for panel, grp in runs.groupby("panel", sort=True):
        axes = F.axes_of(grp)
        grp, _ = F.drop_missing(grp, axes, panel)
        if grp.empty:
            continue
        kept.append(grp)
        if metric == C.HYPERVOLUME:
            seeds.append(F.seed_hypervolumes(grp, axes, F.reference_point(len(axes), ref)).assign(panel=panel))
    if not kept:
        raise ValueError("every run has a missing (NaN) eval metric; nothing to analyse")
    used = pd.concat(kept)
    used["unit"] = C.unit_labels(used, metric)
    seed_hv = pd.concat(seeds, ignore_index=True) if seeds else None
    return used, _claims(used, seed_hv, metric, plan, claim_methods)


def print_summary(result: ParetoResult) -> None:
    """A rich table per panel: hypervolume mean [CI], front size and points dominated."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for panel in result.axes:
        table = Table(title=panel)
        for col in ("method", "seeds", "HV mean", "CI", "front pts", "dominated by others"):
            table.add_column(col, justify="left" if col == "method" else "right")
        sel = lambda d: d[d["panel"] == panel]  # noqa: E731
        hv, pts, dom = sel(result.hypervolume), sel(result.points), sel(result.dominance)
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
    parser.add_argument("--level", type=float, default=0.95, help="confidence level of every interval (default 0.95)")
    parser.add_argument("--power", type=float, default=0.8,
                        help="power for the seeds-needed estimate (default 0.8)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed (default 0)")
    parser.add_argument("--eafdiff", nargs=2, metavar=("A", "B"), default=None,
                        help="the two methods whose EAF difference is plotted (default: dvao against its best "
                             "rival by mean hypervolume, else the two best methods)")
    parser.add_argument("--metric", default=C.HYPERVOLUME,
                        help="what claims compare: 'hypervolume' (per seed over a panel's weights; default) or an eval "
                             "column such as eval/regret or eval/length_compliance (one claim unit per weight setting)")
    parser.add_argument("--claim-methods", nargs="+", default=None, metavar="METHOD",
                        help="make claims among these methods only (e.g. rc ac gdpo dvao; default: every method)")
    parser.add_argument("--claims-only", action="store_true",
                        help="compute only the claims (claims.csv, report.md's claims, --confirm's plan): no plots or "
                             "other tables; fast on thousands of runs")
    parser.add_argument("--confirm", type=int, metavar="N", default=None,
                        help=f"write {C.PLAN_FILE} into --out: the claims these seeds make and N fresh seeds to confirm "
                             "them, with the commands that run them")
    parser.add_argument("--plan", default=None, metavar="FILE",
                        help=f"a {C.PLAN_FILE} written by --confirm: test its claims on its confirmation seeds alone")
    args = parser.parse_args(argv)
    try:
        check_settings(args.n_boot, args.level, args.power)
        if args.confirm is not None and args.plan:
            raise ValueError("--confirm writes a new plan and --plan tests an existing one: give one of them")
        if args.plan and args.claim_methods:
            raise ValueError("--claim-methods chooses the claims of a new plan; a --plan's claims are fixed: drop it")
        if args.confirm is not None:
            C.fresh_seeds([0], args.confirm)      # refuses N < 1 before anything runs
        plan = C.read_plan(args.plan) if args.plan else None
        check_out_dir(args.out)
        tables = load_runs(args.runs, steps=False)
        if args.claims_only:
            used, claims = claims_only(tables.runs, ref=args.ref, metric=args.metric, plan=plan,
                                       claim_methods=args.claim_methods)
            result = None
        else:
            result = analyse(tables.runs, ref=args.ref, n_boot=args.n_boot, level=args.level, seed=args.seed,
                             power=args.power, eafdiff=args.eafdiff, metric=args.metric, plan=plan,
                             claim_methods=args.claim_methods)
            used, claims = result.runs.dropna(subset=["unit"]), result.claims
        new_plan = C.make_plan(claims, used, args.metric, args.confirm) if args.confirm is not None else None
    except (FileNotFoundError, ValueError) as err:
        parser.error(str(err))
    if result is None:
        report = C.write_claims(claims, args.metric, plan, Path(args.out))
    else:
        report = write_outputs(result, Path(args.out), skipped=tables.skipped, duplicates=tables.duplicates)
        print_summary(result)
    if new_plan is not None:
        path = C.write_plan(new_plan, Path(args.out) / C.PLAN_FILE)
        print(f"confirmation plan: {path} ({len(new_plan['claims'])} claims, fresh seeds "
              f"{new_plan['confirmation_seeds'][0]}-{new_plan['confirmation_seeds'][-1]}); run:")
        for line in new_plan["commands"]:
            print("  " + line)
        print(f"then: python -m analysis.pareto {args.runs} --metric {args.metric} --plan {path}")
    print(f"report: {report}")
    return result if result is not None else claims


if __name__ == "__main__":
    main()
