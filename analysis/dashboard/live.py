"""The live Pareto page's data: a JSON-able snapshot of a runs folder, read from the run store.

Finished runs are loaded as ``analysis.pareto`` loads them (analysis.load: broken and unfinished runs
skipped, repeats dropped) and split into the same panels; each method's sweep points (seed means per
weight setting) and, for every pair of eval axes, the staircase of its front in those two axes are
precomputed here (analysis.frontier, analysis.attainment), so the page only draws. Every run directory,
finished or not, is listed with its status and step. Nothing is written.
"""
from __future__ import annotations

import itertools
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import yaml

from analysis import style
from analysis.attainment import staircase
from analysis.frontier import axes_of, drop_missing, nondominated, sweep_points
from analysis.load import SkippedRunWarning, load_runs, panel_labels
from workbench import metrics as M
from workbench import store


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _last_step(path: Path) -> int | None:
    """The step of the last complete record of a jsonl file (its tail only: the file grows every step)."""
    try:
        with open(path, "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - 4096)
            f.seek(start)
            lines = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[1:] if start else lines):  # from mid-file the first line is cut
        try:
            return int(json.loads(line)[M.STEP])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _planned_steps(run_dir: Path) -> int | None:
    try:
        steps = yaml.safe_load((run_dir / store.CONFIG).read_text()).get("steps")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None
    return steps if isinstance(steps, int) else None


def run_table(root: Path) -> list[dict]:
    """Every run directory under ``root``: run (relative path), status (stale for a dead writer), step
    (for a running run the last logged one) and, for a running run, the steps it will train."""
    rows = []
    for run_dir in store.find_runs(root):
        state = store.run_state(run_dir)
        row = {"run": run_dir.relative_to(root).as_posix(), "status": state.status or "never started",
               "step": state.step, "steps": None}
        if state.status == store.RUNNING:
            row["step"] = _last_step(run_dir / store.METRICS) or state.step
            row["steps"] = _planned_steps(run_dir)
        rows.append(row)
    return rows


def _panel(label: str, runs) -> dict:
    """One panel's axes and, per method, its runs, sweep points and per-axis-pair front staircases."""
    axes = axes_of(runs)
    runs, left_out = drop_missing(runs, axes, label)
    points = sweep_points(runs, axes)
    overall = nondominated(runs[axes].to_numpy(dtype=float))
    pairs = list(itertools.combinations(range(len(axes)), 2))
    floor = runs[axes].min().to_numpy(dtype=float)   # as in the report's front figure: a one-point front shows too
    methods = []
    for method in style.method_order(runs["method"].unique()):
        mine, pts = runs[runs.method == method], points[points.method == method]
        values = pts[axes].to_numpy(dtype=float)
        fronts = []
        for i, j in pairs:  # the method's front in these two axes (its full front when there are two)
            flat = values[:, [i, j]]
            xs, ys = staircase(flat[nondominated(flat)], floor[[i, j]])
            fronts.append([[_number(x), _number(y)] for x, y in zip(xs, ys)])
        methods.append({
            "name": method, "label": style.label(method), "color": style.color(method), "marker": style.marker(method),
            "runs": [{"run": r.run, "weights": r.weights, "seed": int(r.seed), "values": [_number(r[a]) for a in axes],
                      "nondominated": bool(overall[runs.index.get_loc(idx)])} for idx, r in mine.iterrows()],
            "points": [{"weights": p.weights, "n_seeds": int(p.n_seeds), "values": [_number(p[a]) for a in axes],
                        "on_front": bool(p.on_front)} for _, p in pts.iterrows()],
            "fronts": fronts,
        })
    return {"label": label, "axes": axes, "pairs": pairs, "methods": methods, "left_out": left_out}


def pareto_panels(root: Path) -> dict:
    """The finished runs' panels (see the module doc): ``panels``, ``skipped`` (run, why), ``warnings``, and
    ``error``, which says why no panel can be drawn yet (no run directory, none finished)."""
    data = {"panels": [], "skipped": [], "warnings": [], "error": None}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tables = load_runs(root, steps=False)
        except (FileNotFoundError, ValueError) as err:
            data["error"] = str(err)
            return data
        runs = tables.runs.assign(panel=panel_labels(tables.runs))
        for label, grp in runs.groupby("panel", sort=True):
            try:
                data["panels"].append(_panel(label, grp))
            except ValueError as err:  # e.g. runs of one task that disagree on their eval axes
                data["panels"].append({"label": label, "error": str(err), "methods": []})
    data["skipped"] = [list(s) for s in tables.skipped] + [[d, f"repeats {o}"] for d, o in tables.duplicates]
    data["warnings"] = [str(w.message) for w in caught if not issubclass(w.category, SkippedRunWarning)]
    return data


class LiveSnapshot:
    """The page's data for the runs under ``root``: the run table, fresh at every call, and the Pareto
    panels, recomputed only when some run's status.json or summary.json changed (file times), so a page
    polling every few seconds costs a directory walk, not a reload of every finished run."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._key = None
        self._panels = None

    def _signature(self, run_dirs) -> tuple:
        sig = []
        for run_dir in run_dirs:
            for name in (store.STATUS, store.SUMMARY):
                try:
                    sig.append((str(run_dir), name, (run_dir / name).stat().st_mtime_ns))
                except OSError:
                    sig.append((str(run_dir), name, None))
        return tuple(sig)

    def get(self) -> dict:
        run_dirs = store.find_runs(self.root) if self.root.is_dir() else []
        key = self._signature(run_dirs)
        if key != self._key or self._panels is None:
            self._panels, self._key = pareto_panels(self.root), key
            self._panels["version"] = f"{len(run_dirs)}-{hash(key) & 0xFFFFFFFF:x}"
        return {"root": str(self.root), "time": time.time(), "runs": run_table(self.root) if self.root.is_dir() else [],
                **self._panels}
