"""Quality indicators against a known Pareto front: IGD+ and the additive epsilon indicator (moocore).

Where a task instance's true front is known (the bandit's exact front; the LLM test bed once it has
one), each method's set of points per seed (one point per weight setting, as for the hypervolume) is
scored against it, maximising every eval axis:

* ``igd_plus``: mean over the front's points r of min over the set's points a of
  sqrt(sum_k max(r_k - a_k, 0)^2) (Ishibuchi et al. 2015): how far, on average, the front lies beyond
  the set. 0 when the set covers the front; lower is better; Pareto-compliant.
* ``epsilon_additive``: the smallest eps such that every front point r has a set point a with
  a_k + eps >= r_k on every axis (Zitzler et al. 2003). Lower is better. For one point it is its worst
  per-axis shortfall against the ideal point, not the bandit's ``eval/front_distance`` (how far the
  point could move along the diagonal: a distance to the nearest front point, not coverage of it).
* ``hv_frac``: the mean over the set's runs of the run's own ``eval/hv_frac`` when it logs one.

Where the front comes from (the hook, checked in this order):
1. summary.json's ``known_front`` key (analysis.load.KNOWN_FRONT): a list of points, one value per eval
   axis in ``eval_axes`` order, sampled densely enough along the front (IGD+ averages over them);
2. a function registered for the task with ``@register_front("<task>")``: run row (pd.Series of the
   runs table, with ``path`` to the run directory) -> (F, D) array or None.
The bandit registers one here (``bandit_front``), rebuilt from the run's config.yaml and seed.
"""
from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import Callable

import moocore
import numpy as np
import pandas as pd

from analysis.load import KNOWN_FRONT
from workbench import metrics as M

FrontFn = Callable[[pd.Series], "np.ndarray | None"]
_FRONTS: dict[str, FrontFn] = {}
HV_FRAC = M.eval_metric("hv_frac")
INDICATORS = ("igd_plus", "epsilon_additive", "hv_frac")   # lower, lower, higher is better
LOWER_IS_BETTER = {"igd_plus": True, "epsilon_additive": True, "hv_frac": False}
SPACING = 0.005   # the bandit's 2-D front is sampled every SPACING along each edge (reward units)


def register_front(task: str):
    """Decorator: ``fn(run_row) -> (F, D) array | None`` gives the known front of ``task``'s runs."""
    def add(fn: FrontFn) -> FrontFn:
        if task in _FRONTS:
            raise ValueError(f"a known front is already registered for task {task!r}")
        _FRONTS[task] = fn
        return fn
    return add


def known_front(run: pd.Series) -> np.ndarray | None:
    """The (F, D) known front of one run (eval axes in ``eval_axes`` order), or None (see module doc)."""
    front = run.get(KNOWN_FRONT)
    if isinstance(front, tuple):
        return np.asarray(front, dtype=float)
    fn = _FRONTS.get(run.get("task"))
    return None if fn is None else fn(run)


def indicators(points, front) -> dict[str, float]:
    """IGD+ and additive epsilon of ``points`` (N, D) against ``front`` (F, D), both maximised.
    NaN when the set has no finite point."""
    points = np.asarray(points, dtype=float)
    points = points[np.isfinite(points).all(axis=1)]
    if not len(points):
        return {"igd_plus": float("nan"), "epsilon_additive": float("nan")}
    return {"igd_plus": float(moocore.igd_plus(points, ref=front, maximise=True)),
            "epsilon_additive": float(moocore.epsilon_additive(points, ref=front, maximise=True))}


def indicator_table(runs: pd.DataFrame, axes_by: dict) -> pd.DataFrame:
    """One row per (panel, method, seed) whose runs have a known front: n_points, igd_plus,
    epsilon_additive, hv_frac. ``runs`` needs a ``panel`` column; ``axes_by`` maps panel -> eval columns.
    Empty when no run has a known front."""
    rows, columns = [], ["panel", "method", "seed", "n_points", *INDICATORS]
    if KNOWN_FRONT not in runs and not set(runs["task"]) & set(_FRONTS):
        return pd.DataFrame(rows, columns=columns)
    for (panel, method, seed), grp in runs.groupby(["panel", "method", "seed"], sort=True):
        first = known_front(grp.iloc[0])
        if first is None:
            continue
        fronts = [first, *(known_front(r) for _, r in grp.iloc[1:].iterrows())]
        if any(f is None or f.shape != fronts[0].shape or not np.allclose(f, fronts[0]) for f in fronts[1:]):
            warnings.warn(f"{panel}: the runs of {method} seed {seed} disagree on their known front; "
                          f"no indicators for them: {', '.join(grp['run'])}", stacklevel=2)
            continue
        hv_frac = float(grp[HV_FRAC].mean()) if HV_FRAC in grp else float("nan")
        rows.append({"panel": panel, "method": method, "seed": seed, "n_points": len(grp),
                     **indicators(grp[axes_by[panel]].to_numpy(), fronts[0]), "hv_frac": hv_frac})
    return pd.DataFrame(rows, columns=columns)


# ---- the bandit (workbench/sim): its exact front from the run's config and seed ----

def _densify(vertices: np.ndarray, spacing: float = SPACING) -> np.ndarray:
    """Points along the polyline through ``vertices`` (V, D), at most ``spacing`` apart, vertices included."""
    parts = [vertices[:1]]
    for a, b in zip(vertices[:-1], vertices[1:]):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / spacing)))
        parts.append(a + np.outer(np.arange(1, n + 1) / n, b - a))
    return np.vstack(parts)


def _weight_directions(k: int, n: int = 4000) -> np.ndarray:
    """(n + k, k) positive weight vectors: uniform on the simplex (Dirichlet(1), seeded) plus one leaning on
    each axis, so every objective's extreme vertex is found too."""
    rng = np.random.default_rng(0)
    lean = np.full((k, k), 1e-3) + np.eye(k)
    return np.vstack([rng.dirichlet(np.ones(k), size=n), lean / lean.sum(axis=1, keepdims=True)])


@functools.lru_cache(maxsize=256)
def _bandit_front(task_json: str, seed: int) -> np.ndarray:
    from workbench.sim import front as SF
    from workbench.sim.env import make_bandit
    from workbench.sim.runner import parse_task

    env, learner = parse_task(json.loads(task_json))
    means = make_bandit(env, seed if learner.env_seed is None else learner.env_seed).means
    if env.K == 2:
        return _densify(SF.front_2d(means))
    # K > 2: the front's vertices, as support points over many weight directions (an approximation: the
    # faces between vertices are not sampled)
    return np.unique(SF.support(means, _weight_directions(env.K)), axis=0)


@register_front("bandit")
def bandit_front(run: pd.Series) -> np.ndarray | None:
    """The exact front of the bandit a run trained on (workbench.sim.front), rebuilt from its config.yaml:
    K = 2: every vertex plus points every SPACING along the edges; K > 2: support points (vertices)
    for 4,000 random weight directions."""
    import yaml

    path = Path(str(run.get("path"))) / "config.yaml"
    try:
        cfg = yaml.safe_load(path.read_text())
        task = {k: v for k, v in cfg["task"].items()}
        if task.get("kind") != "bandit":
            raise ValueError(f"its task.kind is {task.get('kind')!r}, not 'bandit'")
        return _bandit_front(json.dumps(task, sort_keys=True), int(cfg["seed"]))
    except Exception as err:   # a broken config must not stop the analysis: no front for this run
        warnings.warn(f"{path}: cannot rebuild the bandit's front ({type(err).__name__}: {err}); "
                      f"no IGD+/epsilon for this run", stacklevel=2)
        return None
