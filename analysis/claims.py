"""Claims that replicate: select on some seeds, confirm on fresh ones (``python -m analysis.pareto --confirm N``,
``--plan FILE``). Pure functions on a per-seed score table; no I/O except ``write_plan`` / ``read_plan``.

The protocol (docs/analysis.md#claims-selection-and-confirmation-seeds):
1. *Selection.* In each unit (a panel, or a panel at one weight setting for an eval metric), the method with the
   best mean over the seeds run so far is the winner; the analysis would claim "winner beats X" for every other
   method X of the unit. Picking the best of many methods on a few seeds overstates its lead (winner's curse),
   so these claims are reported with exploratory paired p-values only, never as findings.
2. *Plan.* ``--confirm N`` writes ``confirm.yaml``: every claim, the selection seeds, N fresh seeds above every
   seed seen (disjoint by construction) and the command that runs exactly the methods and settings involved.
3. *Confirmation.* ``--plan confirm.yaml`` re-tests each planned claim on the plan's confirmation seeds alone:
   a one-sided exact Wilcoxon signed-rank test of the paired differences (the direction was fixed before the
   data existed), Holm-corrected over all claims of the plan. A claim is *confirmed* when its Holm p <= alpha
   and the mean difference favours the winner; ``*`` marks that and nothing less. The selection seeds never
   enter a confirmation test, and a plan whose seed sets overlap is refused.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.load import SPLIT_AXES

PLAN_FILE = "confirm.yaml"
ALPHA = 0.05
HYPERVOLUME = "hypervolume"
# eval metrics where lower is better (the bandit's distance to the optimum); every other one is maximised
LOWER_IS_BETTER = ("eval/regret", "eval/front_distance", "igd_plus", "epsilon_additive")
CLAIM_COLUMNS = ["unit", "winner", "other", "n", "seeds", "diff", "wins", "p", "p_holm"]
MARK = "*"


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def signed_rank_p(d, alternative: str = "greater") -> float:
    """Exact Wilcoxon signed-rank p-value of the paired differences ``d`` (NaN dropped).

    alternative "greater": H1 the differences tend to be positive; "less"; "two-sided" (twice the smaller
    one-sided p, at most 1). Zero differences are dropped (Wilcoxon's convention) and tied |d| share their
    mid-rank; the null distribution of the positive rank sum is then enumerated exactly over all 2^n sign
    patterns by counting subset sums of the (doubled, integer) ranks, so ties and small n need no normal
    approximation. No non-zero difference: p = 1. With n pairs the smallest one-sided p is 2^-n (5 seeds:
    0.031; two-sided 0.0625).
    """
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    if len(d) == 0:
        return 1.0
    from scipy.stats import rankdata

    ranks = np.rint(2 * rankdata(np.abs(d))).astype(int)       # mid-ranks are halves: doubled they are integers
    counts = np.zeros(ranks.sum() + 1)
    counts[0] = 1.0
    for r in ranks:                                            # subset-sum counts: the null law of T+
        counts[r:] = counts[r:] + counts[:-r]                  # the right side is built before the write
    law = counts / counts.sum()
    t = int(ranks[d > 0].sum())
    upper, lower = float(law[t:].sum()), float(law[:t + 1].sum())
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return min(1.0, 2 * min(upper, lower))


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error at most alpha when rejecting p_holm <= alpha);
    NaN entries stay NaN and are not counted in the family."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    order = ok[np.argsort(p[ok], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def seed_scores(runs: pd.DataFrame, metric: str, seed_hv: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-seed scores ``unit, method, seed, value`` the claims are made on.

    metric "hypervolume": ``seed_hv`` (analysis.pareto's per-seed hypervolume over a panel's weights), one
    unit per panel. Otherwise an eval column of ``runs`` (e.g. ``eval/regret``, ``eval/length_compliance``):
    one unit per panel and weight setting (" / weights=..." appended where a panel has several)."""
    if metric == HYPERVOLUME:
        if seed_hv is None:
            raise ValueError("metric 'hypervolume' needs the per-seed hypervolume table")
        return seed_hv.rename(columns={"panel": "unit", "hypervolume": "value"})[["unit", "method", "seed", "value"]]
    if metric not in runs.columns:
        have = sorted(c for c in runs.columns if c.startswith("eval/"))
        raise ValueError(f"--metric {metric}: no run has it; choose 'hypervolume' or one of {', '.join(have)}")
    out = pd.DataFrame({"unit": unit_labels(runs, metric), "method": runs["method"], "seed": runs["seed"],
                        "value": runs[metric]})
    return out.dropna(subset=["value"])


def unit_labels(runs: pd.DataFrame, metric: str) -> pd.Series:
    """Per run: its unit of comparison, the panel, and for an eval metric " / weights=..." where the
    panel has several weight settings (one metric value per weight setting is its own claim)."""
    unit = runs["panel"].astype(str)
    if metric == HYPERVOLUME:
        return unit
    several = runs.groupby("panel")["weights"].transform("nunique") > 1
    return unit.where(~several, unit + " / weights=" + runs["weights"].astype(str))


def _tables(scores: pd.DataFrame, seeds) -> dict[str, pd.DataFrame]:
    """Per unit: a seed x method table of the scores, restricted to ``seeds``."""
    sel = scores[scores.seed.isin(list(seeds))]
    return {unit: grp.drop_duplicates(["seed", "method"]).pivot(index="seed", columns="method", values="value")
            for unit, grp in sel.groupby("unit", sort=True)}


def _paired(tables: dict, unit: str, a: str, b: str, higher: bool) -> pd.Series:
    """a minus b per seed both ran (from ``_tables``), signed so that positive favours a."""
    t = tables.get(unit)
    if t is None or a not in t or b not in t:
        return pd.Series(dtype=float)
    d = (t[a] - t[b]).dropna()
    return d if higher else -d


def select_claims(scores: pd.DataFrame, higher: bool, seeds=None) -> pd.DataFrame:
    """The claims the seeds ``seeds`` (default all) would make: per unit, the best-mean method against every
    other method of the unit (CLAIM_COLUMNS; diff > 0 favours the winner, wins = seeds where it is better,
    p = two-sided exact signed-rank p over shared seeds, p_holm = Holm over every claim of the table)."""
    seeds = sorted(scores.seed.unique()) if seeds is None else sorted(seeds)
    tables = _tables(scores, seeds)
    rows = []
    for unit, t in tables.items():
        means = t.mean()                                   # over each method's seeds (NaN: did not run)
        if len(means) < 2:
            continue
        winner = means.idxmax() if higher else means.idxmin()
        for other in sorted(m for m in means.index if m != winner):
            d = _paired(tables, unit, winner, other, higher)
            rows.append(dict(unit=unit, winner=winner, other=other, n=len(d), seeds=[int(s) for s in d.index],
                             diff=float(d.mean()) if len(d) else math.nan, wins=int((d > 0).sum()),
                             p=signed_rank_p(d, "two-sided") if len(d) else math.nan))
    table = pd.DataFrame(rows, columns=CLAIM_COLUMNS[:-1])
    table["p_holm"] = holm(table.p.to_numpy()) if len(table) else []
    return table


def confirm_claims(scores: pd.DataFrame, plan: dict) -> pd.DataFrame:
    """Each planned claim re-tested on the plan's confirmation seeds alone (CLAIM_COLUMNS plus ``planned``,
    the confirmation seeds planned, and ``status``): p = one-sided exact signed-rank p that the winner is
    better, p_holm = Holm over all claims of the plan (a claim with no confirmation pair counts as p = 1).
    status: "confirmed" (p_holm <= alpha and diff > 0), "not confirmed", or "not run" (fewer than 2 pairs)."""
    higher, conf = plan["higher_is_better"], plan["confirmation_seeds"]
    tables = _tables(scores, conf)
    rows = []
    for c in plan["claims"]:
        d = _paired(tables, c["unit"], c["winner"], c["other"], higher)
        rows.append(dict(unit=c["unit"], winner=c["winner"], other=c["other"], n=len(d),
                         seeds=[int(s) for s in d.index], diff=float(d.mean()) if len(d) else math.nan,
                         wins=int((d > 0).sum()), p=signed_rank_p(d, "greater") if len(d) >= 2 else 1.0,
                         planned=len(conf)))
    table = pd.DataFrame(rows, columns=[*CLAIM_COLUMNS[:-1], "planned"])
    table["p_holm"] = holm(table.p.to_numpy()) if len(table) else []
    ok = (table.p_holm <= plan["alpha"]) & (table["diff"] > 0)
    table["status"] = np.where(table.n < 2, "not run", np.where(ok, "confirmed", "not confirmed"))
    return table


def fresh_seeds(used, n: int) -> list[int]:
    """n seeds above every seed in ``used``: disjoint from anything already run, so never a selection seed."""
    if n < 1:
        raise ValueError(f"--confirm needs a positive number of fresh seeds (e.g. 20), got {n}")
    start = int(max(used)) + 1 if len(used) else 0
    return list(range(start, start + n))


def _override_key(config: dict, axis: str) -> str | None:
    """The config key an axis of summary.json comes from: the top-level key or the task's (``G``, ``task.K``)."""
    if axis in config:
        return axis
    if isinstance(config.get("task"), dict) and axis in config["task"]:
        return f"task.{axis}"
    return None


def commands(claims: pd.DataFrame, runs: pd.DataFrame, seeds: list[int]) -> list[str]:
    """One ``python -m workbench.run -m`` line per unit: the unit's claimed methods on the fresh seeds, with
    the sweep overlay (``+sweeps=<sweep>``) and every split axis and weight setting of its selection runs set
    explicitly. The confirmation runs then differ from the selection runs in the seed alone (the analysis
    checks this when it reads them back)."""
    out = []
    for unit, grp in claims.groupby("unit", sort=True):
        methods = sorted({*grp.winner, *grp.other})
        mine = runs[(runs.unit == unit) & runs.method.isin(methods)]
        first = mine.iloc[0]
        config = _read_config(first)
        parts = ["python -m workbench.run -m -cd ."]
        if isinstance(first.get("sweep"), str) and first.get("sweep"):
            parts.append(f"+sweeps={first['sweep']}")
        parts.append("method=" + ",".join(methods))
        for axis in SPLIT_AXES:
            if axis in mine and mine[axis].notna().all() and mine[axis].nunique() == 1:
                key = _override_key(config, axis)
                if key:
                    parts.append(f"{key}={config_value(config, key)}")
        if config.get("weights") is not None:    # quoted: a sweep over lists (or one list) in Hydra's syntax
            parts.append("'weights=" + ",".join("[" + w + "]" for w in sorted(mine.weights.unique())) + "'")
        parts.append("seed=" + ",".join(map(str, seeds)))
        out.append(" ".join(parts))
    return out


def config_value(config: dict, key: str):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def _read_config(run: pd.Series) -> dict:
    path = Path(str(run.get("path", ""))) / "config.yaml"
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def make_plan(claims: pd.DataFrame, runs: pd.DataFrame, metric: str, n: int, alpha: float = ALPHA) -> dict:
    """The confirmation plan of ``claims`` (select_claims over the seeds in ``runs``): n fresh seeds."""
    if claims.empty:
        raise ValueError("no unit has two methods with a shared seed: there is no claim to confirm")
    selection = sorted(int(s) for s in runs.seed.unique())
    fresh = fresh_seeds(selection, n)
    return {
        "metric": metric, "higher_is_better": higher_is_better(metric), "alpha": alpha,
        "selection_seeds": selection, "confirmation_seeds": fresh,
        "claims": [{"unit": r.unit, "winner": r.winner, "other": r.other, "selection": {
            "n": int(r.n), "diff": float(r.diff), "wins": int(r.wins), "p_holm": float(r.p_holm)}}
            for r in claims.itertuples()],
        "commands": commands(claims, runs, fresh),
    }


def write_plan(plan: dict, path: Path) -> Path:
    head = ("# Confirmation plan written by python -m analysis.pareto --confirm: run `commands` (they add only the\n"
            "# confirmation seeds), then python -m analysis.pareto RUNS --plan THIS_FILE. A claim is confirmed only\n"
            "# on the confirmation seeds (docs/analysis.md#claims-selection-and-confirmation-seeds).\n")
    path.write_text(head + yaml.safe_dump(plan, sort_keys=False, width=200))
    return path


def read_plan(path) -> dict:
    """Load and check a plan; a ValueError says what is wrong and how to fix it."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--plan {path}: no such file; write one with --confirm N first")
    try:
        plan = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"--plan {path}: not valid YAML ({err})") from None
    need = ("metric", "higher_is_better", "alpha", "selection_seeds", "confirmation_seeds", "claims")
    if not isinstance(plan, dict) or any(k not in plan for k in need):
        raise ValueError(f"--plan {path}: not a confirmation plan (needs keys {', '.join(need)}); "
                         "write one with --confirm N")
    overlap = sorted(set(plan["selection_seeds"]) & set(plan["confirmation_seeds"]))
    if overlap:
        raise ValueError(f"--plan {path}: seeds {overlap} are both selection and confirmation seeds; a claim "
                         "cannot be confirmed on the seeds that selected it. Write a new plan with --confirm N")
    if not plan["claims"] or not plan["confirmation_seeds"]:
        raise ValueError(f"--plan {path}: no claims or no confirmation seeds")
    return plan


def check_same_config(runs: pd.DataFrame, plan: dict) -> None:
    """Refuse confirmation runs whose configuration differs from their selection runs' in anything but the
    seed (another step count, learning rate, ...): they would test a different claim. A column that already
    varies among the selection runs (a seed-dependent summary value such as the bandit's front_hv) is not
    configuration and is not compared."""
    from analysis.load import config_columns

    cols = [c for c in config_columns(runs) if c not in ("seed", "unit", "panel", "nondominated")]
    for c in plan["claims"]:
        for method in (c["winner"], c["other"]):
            mine = runs[(runs.unit == c["unit"]) & (runs.method == method)]
            sel, conf = mine[mine.seed.isin(plan["selection_seeds"])], mine[mine.seed.isin(plan["confirmation_seeds"])]
            if sel.empty or conf.empty:
                continue
            for col in cols:
                a = set(sel[col].astype(str)) - {"nan"}
                b = set(conf[col].astype(str)) - {"nan"}
                if len(a) == 1 and b and a != b:
                    raise ValueError(f"{c['unit']}, {method}: the confirmation runs have {col}={sorted(b)} but the "
                                     f"selection runs {col}={sorted(a)}; rerun them with the plan's commands")



def _seed_span(seeds) -> str:
    seeds = sorted(int(s) for s in seeds)
    if not seeds:
        return "none"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return ",".join(map(str, seeds)) + f" ({len(seeds)})"


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.{digits}g}"


def _p(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}"


def claim_text(row, higher: bool) -> str:
    return f"{row.winner} {'>' if higher else '<'} {row.other}"


def report_lines(table: pd.DataFrame, metric: str, plan: dict | None) -> list[str]:
    """The report.md section on claims: what each claim is, on which seeds it was selected and confirmed."""
    higher = higher_is_better(metric)
    better = "higher" if higher else "lower"
    if table.empty:
        return ["## Claims", "", "No unit has two methods with a shared seed: no claim to make.", ""]
    if plan is None:
        lines = ["## Claims (selection seeds only: none is confirmed)", "",
                 f"Metric `{metric}` ({better} is better). In each unit the method with the best mean is set against "
                 "every other method of the unit, paired by seed. p: two-sided exact Wilcoxon signed-rank test over "
                 f"the shared seeds; Holm: corrected over all {len(table)} comparisons. The winner was picked on these "
                 "same seeds, so its lead is overstated (winner's curse): these are candidates, not findings. "
                 "`--confirm N` writes confirm.yaml with N fresh seeds and the commands that run them; `--plan "
                 "confirm.yaml` then tests each claim on those seeds alone.", "",
                 "| unit | claim | seeds | wins | mean difference | p | p (Holm) |", "|---|---|---|---|---|---|---|"]
        for r in table.itertuples():
            lines.append(f"| {r.unit} | {claim_text(r, higher)} | {_seed_span(r.seeds)} | {r.wins}/{r.n} | "
                         f"{_num(r.diff)} | {_p(r.p)} | {_p(r.p_holm)} |")
        return lines + [""]
    sel = {(c["unit"], c["winner"], c["other"]): c["selection"] for c in plan["claims"]}
    n_ok = int((table.status == "confirmed").sum())
    lines = ["## Claims: selected on some seeds, confirmed on fresh ones", "",
             f"Metric `{metric}` ({better} is better). Selection seeds {_seed_span(plan['selection_seeds'])}; "
             f"confirmation seeds {_seed_span(plan['confirmation_seeds'])}, disjoint from them. Each claim was fixed "
             "on the selection seeds (the unit's best mean against each other method) and is tested on the "
             "confirmation seeds alone: one-sided exact Wilcoxon signed-rank test of the paired differences, "
             f"Holm-corrected over all {len(table)} claims, alpha {plan['alpha']:g}. "
             f"{MARK} = confirmed (and nothing less); **{n_ok} of {len(table)} confirmed**.", "",
             "| unit | claim | selection: seeds, wins, mean diff | confirmation: seeds, wins, mean diff | p (Holm) | verdict |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        s = sel.get((r.unit, r.winner, r.other), {})
        verdict = {"confirmed": f"confirmed {MARK}", "not confirmed": "not confirmed",
                   "not run": f"not run ({r.n} of {r.planned} seeds)"}[r.status]
        if r.status != "not run" and r.n < r.planned:
            verdict += f" ({r.n} of {r.planned} seeds ran)"
        lines.append(f"| {r.unit} | {claim_text(r, higher)} | {s.get('n', '?')}, {s.get('wins', '?')}/{s.get('n', '?')}, "
                     f"{_num(s.get('diff'))} | {r.n}, {r.wins}/{r.n}, {_num(r.diff)} | {_p(r.p_holm)} | {verdict} |")
    lines += ["", "Per unit:", ""]
    for unit, grp in table.groupby("unit", sort=True):
        winner = grp.winner.iloc[0]
        ok = grp[grp.status == "confirmed"].other.tolist()
        not_ok = grp[grp.status != "confirmed"].other.tolist()
        if not not_ok:
            lines.append(f"- {unit}: **{winner} is confirmed best of the {len(grp) + 1} methods compared** {MARK}")
        else:
            lines.append(f"- {unit}: {winner} confirmed against {', '.join(ok) or 'none'}; not against "
                         f"{', '.join(not_ok)}.")
    return lines + [""]


def write_claims(table: pd.DataFrame, metric: str, plan: dict | None, out: Path) -> Path:
    """``--claims-only``'s outputs: claims.csv and a report.md holding the claims section alone."""
    from workbench.outputs import claim_report_dir

    out = claim_report_dir(out)
    table.to_csv(out / "claims.csv", index=False)
    lines = ["# Claims", "", "Written by python -m analysis.pareto --claims-only (no plots or other tables).", "",
             *report_lines(table, metric, plan)]
    (out / "report.md").write_text("\n".join(lines))
    return out / "report.md"
