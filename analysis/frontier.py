"""Pure Pareto functions: non-dominated sets, hypervolume, bootstrap intervals, method fronts.

Every eval axis is maximised (the task contract: eval axes are in [0, 1], larger is better). The default
hypervolume reference point is 0 on every axis: the worst value an axis can take, so the hypervolume is
the volume of the union of the boxes [0, p] over the front's points, comparable across methods, seeds
and weight settings, and a point with a 0 on any axis adds nothing. Pass another ``ref`` to change it.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import moocore

from analysis import stats as S
from analysis.style import method_order
from workbench import metrics as M

GROUP = ("task", "model")   # one Pareto analysis per task and model


def axes_of(runs: pd.DataFrame, shared: bool = False) -> list[str]:
    """The ``eval/<axis>`` columns of the runs of one task; differing eval_axes raise, unless ``shared``,
    which keeps the axes every run has (in the first run's order): the K ablation compares a K=3 run with
    a K=2 one on the axes both have, since the extra objective has no counterpart."""
    sets = list(dict.fromkeys(runs["eval_axes"]))
    if len(sets) != 1 and not shared:
        raise ValueError(f"runs of one task disagree on eval_axes: {sorted(sets)}; analyse them separately")
    common = set.intersection(*(set(s) for s in sets))
    axes = [M.eval_metric(a) for a in sets[0] if a in common]
    if len(axes) < 2:
        raise ValueError(f"a Pareto analysis needs at least 2 eval axes, the runs have {axes}")
    return axes


def reference_point(n_axes: int, ref=None) -> np.ndarray:
    """(n_axes,) reference point: ``ref`` if given (one value per axis), else zeros (see module doc)."""
    if ref is None:
        return np.zeros(n_axes)
    ref = np.asarray(ref, dtype=float).reshape(-1)
    if ref.shape != (n_axes,):
        raise ValueError(f"--ref needs one value per eval axis ({n_axes}), got {ref.tolist()}")
    return ref


def drop_missing(runs: pd.DataFrame, axes: list[str], label: str) -> tuple[pd.DataFrame, list[str]]:
    """(the runs with a finite value on every axis, the ids of the others). A NaN eval value is unknown,
    not 0: those runs are left out of every front, hypervolume and table, with a warning naming them."""
    bad = ~np.isfinite(runs[axes].to_numpy(dtype=float)).all(axis=1)
    if not bad.any():
        return runs, []
    names = [str(r) for r in runs.get("run", pd.Series(runs.index, index=runs.index))[bad]]
    warnings.warn(f"{label}: ignoring {len(names)} runs with a missing (NaN) eval metric: {', '.join(names)}",
                  stacklevel=3)
    return runs[~bad], names


def nondominated(points) -> np.ndarray:
    """(N,) bool: True for the rows of ``points`` (N, D) that no other row dominates (maximising).

    Identical points are all kept. Rows holding NaN are never non-dominated.
    """
    points = np.asarray(points, dtype=float)
    mask = np.zeros(len(points), dtype=bool)
    finite = np.isfinite(points).all(axis=1)
    if finite.any():
        mask[finite] = moocore.is_nondominated(points[finite], maximise=True, keep_weakly=True)
    return mask


def hypervolume(points, ref) -> float:
    """Hypervolume (maximising) of ``points`` (N, D) with reference ``ref`` (D,).

    Rows with NaN and rows not strictly better than ``ref`` on every axis add nothing; no rows give 0.
    """
    points = np.asarray(points, dtype=float).reshape(-1, len(ref))
    points = points[np.isfinite(points).all(axis=1) & (points > ref).all(axis=1)]
    return float(moocore.hypervolume(points, ref=ref, maximise=True)) if len(points) else 0.0


def dominated_by(points, front) -> np.ndarray:
    """(N,) bool: row i of ``points`` (N, D) is dominated by some row of ``front`` (F, D):
    at least as good on every axis and strictly better on one (maximising)."""
    p = np.asarray(points, dtype=float)[:, None, :]
    f = np.asarray(front, dtype=float)[None, :, :]
    if p.shape[0] == 0 or f.shape[1] == 0:
        return np.zeros(p.shape[0], dtype=bool)
    return ((f >= p).all(-1) & (f > p).any(-1)).any(-1)


def bootstrap_ci(values, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of ``values`` and its percentile-bootstrap ``level`` interval.

    Resamples the values (e.g. one hypervolume per seed) with replacement ``n_boot`` times
    (scipy.stats.bootstrap, see analysis.stats). Fewer than two finite values give NaN bounds: one seed
    says nothing about seed-to-seed spread.
    """
    return S.mean_interval(values, n_boot=n_boot, level=level, seed=seed)


def sweep_points(runs: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Each method's sweep points: mean over seeds of ``axes`` per (task, model, method, weights), with
    ``n_seeds`` and ``on_front`` (non-dominated within the method's own sweep)."""
    keys = [*GROUP, "method", "weights"]
    pts = runs.groupby(keys, sort=False).agg(weight=("weight", "first"), n_seeds=("seed", "nunique"),
                                             **{a: (a, "mean") for a in axes}).reset_index()
    pts["on_front"] = False
    for _, idx in pts.groupby([*GROUP, "method"], sort=False).groups.items():
        pts.loc[idx, "on_front"] = nondominated(pts.loc[idx, axes].to_numpy())
    return pts.sort_values([*GROUP, "method", "weight"], kind="stable").reset_index(drop=True)


def seed_hypervolumes(runs: pd.DataFrame, axes: list[str], ref) -> pd.DataFrame:
    """Hypervolume of each method's sweep per seed: one row per (task, model, method, seed)."""
    rows = []
    for key, grp in runs.groupby([*GROUP, "method", "seed"], sort=False):
        rows.append((*key, len(grp), hypervolume(grp[axes].to_numpy(), ref)))
    return pd.DataFrame(rows, columns=[*GROUP, "method", "seed", "n_points", "hypervolume"])


def hypervolume_table(runs: pd.DataFrame, axes: list[str], ref, *, n_boot: int = 2000, level: float = 0.95,
                      seed: int = 0, per_seed: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (task, model, method): seeds, mean/std of the per-seed hypervolume, its bootstrap CI, and
    ``hv_of_mean_front``: the hypervolume of the seed-averaged sweep points. ``per_seed``: the
    ``seed_hypervolumes`` of ``runs`` when already computed."""
    per_seed = seed_hypervolumes(runs, axes, ref) if per_seed is None else per_seed
    pts = sweep_points(runs, axes)
    rows = []
    for (task, model, method), grp in per_seed.groupby([*GROUP, "method"], sort=False):
        mean, lo, hi = bootstrap_ci(grp["hypervolume"], n_boot=n_boot, level=level, seed=seed)
        mine = pts[(pts.task == task) & (pts.model == model) & (pts.method == method)]
        rows.append({"task": task, "model": model, "method": method, "n_seeds": len(grp),
                     "n_weights": len(mine), "hv_mean": mean, "hv_std": float(grp["hypervolume"].std(ddof=1)),
                     "ci_lo": lo, "ci_hi": hi, "hv_of_mean_front": hypervolume(mine[axes].to_numpy(), ref)})
    table = pd.DataFrame(rows)
    return _in_method_order(table)


def dominance_table(points: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """For each (task, model) and ordered pair of methods (method, by): how many of ``method``'s sweep
    points are dominated by ``by``'s front; ``by == "any other"`` counts points dominated by any other
    method's front. Input: ``sweep_points`` output."""
    rows = []
    for (task, model), grp in points.groupby(list(GROUP), sort=False):
        methods = method_order(grp["method"].unique())
        fronts = {m: grp[(grp.method == m) & grp.on_front][axes].to_numpy() for m in methods}
        for m in methods:
            mine = grp[grp.method == m][axes].to_numpy()
            anyone = np.zeros(len(mine), dtype=bool)
            for o in methods:
                if o == m:
                    continue
                hit = dominated_by(mine, fronts[o])
                anyone |= hit
                rows.append((task, model, m, o, len(mine), int(hit.sum())))
            rows.append((task, model, m, "any other", len(mine), int(anyone.sum())))
    return pd.DataFrame(rows, columns=[*GROUP, "method", "by", "n_points", "n_dominated"])


def flag_nondominated(runs: pd.DataFrame, axes: list[str]) -> pd.Series:
    """(len(runs),) bool: run is on the overall front of its (task, model), across all methods and seeds."""
    flags = pd.Series(False, index=runs.index)
    for _, idx in runs.groupby(list(GROUP), sort=False).groups.items():
        flags.loc[idx] = nondominated(runs.loc[idx, axes].to_numpy())
    return flags


def _in_method_order(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    order = {m: i for i, m in enumerate(method_order(table["method"].unique()))}
    return table.sort_values([*GROUP, "method"], key=lambda s: s.map(order) if s.name == "method" else s,
                             kind="stable").reset_index(drop=True)
