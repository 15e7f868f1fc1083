"""Load stage: run directories (or a W&B project) -> two tidy pandas tables.

``runs``: one row per finished run: ``run`` (id: path relative to the root), ``path``, ``method``,
``task``, ``model``, ``G``, ``K``, ``seed``, ``sweep``, ``weights`` (str "0.3,0.7"), ``weight`` (the first
objective's base weight, the paper's swept "accuracy weight"), ``objectives`` and ``eval_axes`` (tuples),
``step``, every ``eval/<axis>`` metric and any other scalar key of summary.json (e.g. ``noise``).

``steps``: one row per (run, logged step): ``run``, ``step`` and one column per workbench.metrics key.

Run directories whose status is anything but "done" (failed, running, interrupted, stale, ...) and
broken ones (a status.json or summary.json that is missing, binary, truncated, not a JSON object, holds
a value of the wrong type, e.g. a string where a number belongs, or one out of range: an infinite eval value,
G < 2, a negative seed or weight), and a second path (symlink) to a run already read, are skipped with one SkippedRunWarning
naming each of them, the file and why. A truncated or unreadable line of a metrics file (a run killed
mid-write) is dropped with a warning naming the file. Runs that repeat another run's configuration and
seed are dropped with a DuplicateRunWarning (``drop_duplicate_runs``): a re-run is not another seed.
Nothing here touches the network unless ``load_wandb`` is called.
"""
from __future__ import annotations

import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.checks import KNOWN_FRONT, is_int, is_number, known_front_of, range_problem, read_json, type_problem
from workbench import metrics as M
from workbench.store import DONE, METRICS, RUNNING, STALE, STATUS, SUMMARY, discover_runs, run_state

REQUIRED = ("method", "task", "model", "seed", "objectives", "eval_axes")
# Config axes that define separate experiments when they vary: pareto and stability split by them,
# ablation puts the one it studies in columns and splits by the others. (Not seed-dependent values
# such as the bandit's front_hv, which also sit in summary.json.)
SPLIT_AXES = ("G", "K", "noise", "noise_scale", "aux_noise", "aux_miscalibration", "correlation", "length_limit",
              "loss", "dynamic_sampling")
# Axes LLM runs record since the loss group and dynamic sampling exist (conf/loss/, train.dynamic_sampling): an older
# run of the same task and model lacking them ran with these values, so it is not split off into its own panel.
DEFAULT_AXES = {"loss": "trl", "dynamic_sampling": "off"}


# Columns that identify a run rather than its configuration (the rest, minus metric keys, do).
NOT_CONFIG = ("run", "path", "status", "sweep", "weight", KNOWN_FRONT)


class SkippedRunWarning(UserWarning):
    """Some run directories were not loaded (failed, incomplete or broken); the message names them."""


class DuplicateRunWarning(SkippedRunWarning):
    """Some runs repeat another run's (method, weights, seed, config) and were dropped; the message names them."""


@dataclass(frozen=True)
class RunTables:
    runs: pd.DataFrame                       # one row per run
    steps: pd.DataFrame | None = None        # one row per (run, step); None when not requested
    skipped: tuple[tuple[str, str], ...] = field(default=())   # (run id, reason)
    duplicates: tuple[tuple[str, str], ...] = field(default=())  # (dropped run id, the run it repeats)


def weights_key(weights, k: int) -> str:
    """Canonical string of a run's base weights ("0.3,0.7"); ``None`` (equal weights) becomes 1/K each."""
    if weights is None:
        weights = [1.0 / k] * k
    return ",".join(f"{float(w):.4g}" for w in weights)


def _summary_row(run_dir: Path, root: Path, include_incomplete: bool) -> tuple[dict | None, str | None]:
    """(row, None) for a loadable run, (None, reason) otherwise."""
    status, problem = read_json(run_dir / STATUS)
    if problem:
        return None, problem + (" (never started?)" if problem.startswith("no ") else "")
    state = status.get("status")
    if state == RUNNING:
        state = run_state(run_dir).status  # "stale" when no live process writes it (killed, host gone)
    if state != DONE and not (include_incomplete and state in (RUNNING, STALE)):
        detail = f": {status['error']}" if status.get("error") else ""
        return None, f"{STATUS}: {state or 'no status'} at step {status.get('step')}{detail}"
    summary, problem = read_json(run_dir / SUMMARY)
    if problem:
        return None, problem
    missing = [k for k in REQUIRED if k not in summary]
    if missing:
        return None, f"summary.json lacks {', '.join(missing)}"
    problem = type_problem(summary) or range_problem(summary)
    if problem:
        return None, problem
    row = {k: v for k, v in summary.items() if v is None or isinstance(v, (str, int, float, bool))}
    objectives = tuple(summary["objectives"])
    row.update(run=run_dir.relative_to(root).as_posix() or ".", path=str(run_dir), status=state,
               objectives=objectives, eval_axes=tuple(summary["eval_axes"]), K=summary.get("K", len(objectives)))
    weights = summary.get("weights")
    row["weights"] = weights_key(weights, len(objectives))
    row["weight"] = float(row["weights"].split(",")[0])
    schedule = summary.get("weight_schedule")
    if isinstance(schedule, dict) and isinstance(schedule.get("label"), str):
        # A scheduled run's sweep point is its schedule, not the weights it ended with: its own point.
        row["weights"] = schedule["label"]
        row["weight_schedule"] = schedule["label"]
    for axis in row["eval_axes"]:
        row.setdefault(M.eval_metric(axis), None)
    front = known_front_of(summary, run_dir / SUMMARY)
    if front is not None:
        row[KNOWN_FRONT] = front
    return row, None


def _read_metrics(path: Path):
    """A pyarrow table of one metrics.jsonl; a half-written last line is dropped with a warning, and so is
    (by the slower line-by-line reader) any corrupt, binary or ill-typed line; an unreadable file is
    left out with a warning naming it."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        data = path.read_bytes() if path.exists() else b""
    except OSError as err:
        warnings.warn(f"{path}: cannot be read ({err.strerror or err}); its per-step metrics are left out", stacklevel=3)
        return None
    if data and not data.endswith(b"\n"):
        head, _, tail = data.rpartition(b"\n")
        try:
            json.loads(tail)
            data += b"\n"
        except ValueError:      # JSONDecodeError, or UnicodeDecodeError for binary bytes
            warnings.warn(f"{path}: dropping a truncated last line", stacklevel=3)
            data = head + b"\n" if head else b""
    if not data.strip():
        return None
    try:
        # One thread per file: the files are small, and a thread pool per file costs more than it saves.
        return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        records = _numeric_records(path, data)
        return pa.Table.from_pylist(records) if records else None


def _numeric_records(path: Path, data: bytes) -> list[dict]:
    """The records of a JSONL byte string with an integer ``step``, keeping numeric (or null) values only;
    one warning names the file and counts what was dropped."""
    records, bad_lines, bad_values = [], 0, 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad_lines += 1
            continue
        if not isinstance(record, dict) or not is_int(record.get(M.STEP)):
            bad_lines += 1
            continue
        kept = {k: (float(v) if k != M.STEP else int(v)) for k, v in record.items() if v is None or is_number(v)}
        bad_values += len(record) - len(kept)
        records.append(kept)
    if bad_lines or bad_values:
        warnings.warn(f"{path}: skipping {bad_lines} truncated or corrupt line(s) and {bad_values} non-numeric "
                      f"value(s)", stacklevel=4)
    return records


def load_steps(runs: pd.DataFrame) -> pd.DataFrame:
    """The long per-step table of the runs in ``runs`` (needs its ``run`` and ``path`` columns)."""
    import pyarrow as pa

    tables = []
    for run, path in zip(runs["run"], runs["path"]):
        table = _read_metrics(Path(path) / METRICS)
        if table is not None and table.num_rows:
            tables.append(table.append_column("run", pa.array([run] * table.num_rows)))
    if not tables:
        return pd.DataFrame({"run": pd.Series(dtype=str), M.STEP: pd.Series(dtype=int)})
    steps = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    cols = ["run", M.STEP] + sorted(c for c in steps.columns if c not in ("run", M.STEP))
    return steps[cols].sort_values(["run", M.STEP], kind="stable").reset_index(drop=True)


def load_runs(root: str | os.PathLike, *, steps: bool = True, include_incomplete: bool = False) -> RunTables:
    """Load every run directory under ``root`` (see the module docstring for the two tables).

    include_incomplete keeps runs whose status is still "running", or "stale" (the writer died), when their
    summary.json exists.
    Raises FileNotFoundError when ``root`` does not exist or holds no run directory at all.
    """
    if not str(root).strip():
        raise FileNotFoundError("the runs path is empty; pass the runs/ folder written by `python -m workbench.run`")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory; pass the runs/ folder written by `python -m workbench.run`")
    dirs, aliases = discover_runs(root)
    if not dirs:
        raise FileNotFoundError(f"no run directories (folders holding config.yaml, status.json, summary.json or "
                                f"metrics.jsonl) under {root}")
    rows, skipped = [], [(p.relative_to(root).as_posix(), why) for p, why in aliases]
    for run_dir in dirs:
        row, reason = _summary_row(run_dir, root, include_incomplete)
        if row is None:
            skipped.append((run_dir.relative_to(root).as_posix(), reason))
        else:
            rows.append(row)
    if skipped:
        listing = "; ".join(f"{run} ({why})" for run, why in skipped)
        warnings.warn(f"skipped {len(skipped)} of {len(dirs)} runs under {root}: {listing}", SkippedRunWarning,
                      stacklevel=2)
    runs = pd.DataFrame(rows)
    if runs.empty:
        raise ValueError(f"none of the {len(dirs)} run directories under {root} finished; see the warning above")
    runs = runs.sort_values("run", kind="stable").reset_index(drop=True)
    runs = _fill_default_axes(runs)
    for col in [c for c in runs.columns if c.startswith(M.EVAL + "/")]:
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype(float)   # null (NaN in the store) -> NaN
    runs, duplicates = drop_duplicate_runs(runs)
    return RunTables(runs=runs, steps=load_steps(runs) if steps else None, skipped=tuple(skipped),
                     duplicates=duplicates)


def _fill_default_axes(runs: pd.DataFrame) -> pd.DataFrame:
    """DEFAULT_AXES filled in for runs lacking them, within each task and model where some run records them."""
    for axis, default in DEFAULT_AXES.items():
        if axis not in runs.columns:
            continue
        recorded = runs.groupby(["task", "model"], sort=False)[axis].transform(lambda col: col.notna().any())
        runs.loc[recorded.astype(bool) & runs[axis].isna(), axis] = default
    return runs


def config_columns(runs: pd.DataFrame) -> list[str]:
    """The columns that make up a run's configuration: every summary key that is not a metric
    (``section/name``) or an identity column (NOT_CONFIG). The seed is among them."""
    return [c for c in runs.columns if "/" not in c and c not in NOT_CONFIG]


def drop_duplicate_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, tuple[tuple[str, str], ...]]:
    """(runs without repeats, ((dropped run, the run it repeats), ...)).

    Runs sharing method, weights, seed and every other config value (``config_columns``; the sweep name
    is not config: two sweeps may run the same job) are one seed, not several: the first in run-id order
    is kept and the others dropped with a DuplicateRunWarning naming both.
    """
    cols = config_columns(runs)
    repeated = runs.duplicated(subset=cols, keep="first")
    if not repeated.any():
        return runs, ()
    first = runs.groupby(cols, dropna=False, sort=False)["run"].transform("first")
    pairs = tuple(zip(runs.loc[repeated, "run"], first[repeated]))
    listing = "; ".join(f"{dup} (repeats {orig})" for dup, orig in pairs)
    warnings.warn(f"dropped {len(pairs)} run(s) that repeat another run's method, weights, seed and config; a re-run "
                  f"is not another seed: {listing}", DuplicateRunWarning, stacklevel=3)
    return runs[~repeated].reset_index(drop=True), pairs


def varying_axes(runs: pd.DataFrame, exclude=()) -> list[str]:
    """The SPLIT_AXES columns of ``runs`` that take more than one value (``exclude`` left out)."""
    return [a for a in SPLIT_AXES if a in runs.columns and a not in exclude and runs[a].nunique(dropna=False) > 1]


def panel_labels(runs: pd.DataFrame, exclude=()) -> pd.Series:
    """Per run: "task / model", plus " / axis=value" for each split axis varying within its task and model.
    Axes in ``exclude`` (the one an ablation studies; "model" drops the model) are left out."""
    outer = ["task"] if "model" in exclude else ["task", "model"]
    labels = runs[outer].astype(str).agg(" / ".join, axis=1)
    for _, idx in runs.groupby(outer, sort=False).groups.items():
        sub = runs.loc[idx]
        for axis in varying_axes(sub, exclude):
            labels.loc[idx] += f" / {axis}=" + sub[axis].map(_short)
    return labels


def _short(value) -> str:
    """4.0 -> "4" (an int axis read next to runs lacking it becomes float), other values as str."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def slug(label: str) -> str:
    """A file-name-safe form of a panel label: "math / tiny / G=4" -> "math_tiny_G4"."""
    return "_".join(part.replace("=", "").replace(",", "-").replace(" ", "") for part in label.split(" / "))


def require_columns(runs: pd.DataFrame, columns, what: str) -> None:
    """Raise a ValueError naming the missing columns and the ones available."""
    missing = [c for c in columns if c not in runs.columns]
    if missing:
        raise ValueError(f"{what} needs run columns {missing}; the runs have {sorted(map(str, runs.columns))}")


def wandb_row(name: str, state: str, config: dict, summary: dict) -> tuple[dict | None, str | None]:
    """A runs-table row from one W&B run's config and summary (the same columns as ``_summary_row``).

    The trainer logs the resolved Hydra config (groups as dicts with a ``name``) and every metric key;
    objectives and eval axes are read back from the ``reward/<o>/mean`` and ``eval/<axis>`` summary keys.
    """
    if state != "finished":
        return None, f"W&B state {state}"
    pick = lambda v: v.get("name") if isinstance(v, dict) else v  # noqa: E731
    objectives = tuple(k.split("/")[1] for k in summary if k.startswith(M.REWARD + "/") and k.endswith("/mean")
                       and k != M.REWARD_TOTAL)
    eval_axes = tuple(k.split("/", 1)[1] for k in summary if k.startswith(M.EVAL + "/"))
    if not objectives or not eval_axes:
        return None, "no reward/<objective>/mean or eval/<axis> keys in its W&B summary"
    row = {"run": name, "path": None, "status": DONE, "method": pick(config.get("method")),
           "task": pick(config.get("task")), "model": pick(config.get("model")), "G": config.get("G"),
           "K": len(objectives), "seed": config.get("seed"), "sweep": config.get("sweep"),
           "objectives": objectives, "eval_axes": eval_axes, "step": summary.get("_step"),
           **{k: summary[k] for k in summary if k.startswith(M.EVAL + "/")}}
    weights = config.get("weights")
    if isinstance(weights, dict):   # a weight schedule: its label is the sweep point (as _summary_row reads it)
        from workbench.train import schedule

        try:
            sched = schedule.parse(weights, list(objectives), int(config.get("steps") or 1))
        except (ValueError, TypeError) as exc:
            return None, f"its config's weight schedule is invalid ({exc})"
        row.update(weights=sched.label(), weight_schedule=sched.label(),
                   weight=float(sched(int(config.get("steps") or 1) - 1)[0]))
    else:
        row["weights"] = weights_key(weights, len(objectives))
        row["weight"] = float(row["weights"].split(",")[0])
    for axis, default in DEFAULT_AXES.items():   # the loss group and dynamic sampling, from the run's config
        value = (config.get("loss") or {}).get("name") if axis == "loss" else (config.get("train") or {}).get(axis)
        if value is not None:
            row[axis] = value
    return row, None


def load_wandb(project: str, entity: str | None = None, *, steps: bool = False, timeout: float = 3.0) -> RunTables:
    """The runs (and optionally per-step history) of a W&B project, as ``load_runs`` returns them.

    Needs W&B online (checked first with a short probe, so it never hangs); raises RuntimeError saying
    why otherwise. Unfinished runs are skipped with a SkippedRunWarning.
    """
    from analysis.wandb_report import check_online

    ok, why = check_online(timeout)
    if not ok:
        raise RuntimeError(f"cannot load W&B project {project!r}: {why}; load the local runs/ folder instead")
    import wandb

    api = wandb.Api(timeout=int(max(timeout, 10)))
    rows, skipped, history = [], [], []
    for run in api.runs(f"{entity}/{project}" if entity else project):
        row, reason = wandb_row(run.name, run.state, dict(run.config), dict(run.summary))
        if row is None:
            skipped.append((run.name, reason))
            continue
        rows.append(row)
        if steps:
            frame = run.history(samples=100_000, pandas=True).rename(columns={"_step": M.STEP})
            history.append(frame.assign(run=run.name))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} W&B runs: " + "; ".join(f"{n} ({w})" for n, w in skipped),
                      SkippedRunWarning, stacklevel=2)
    if not rows:
        raise ValueError(f"no finished runs with eval metrics in W&B project {project!r}")
    runs, duplicates = drop_duplicate_runs(_fill_default_axes(pd.DataFrame(rows)))
    step_table = pd.concat(history, ignore_index=True) if history else None
    if step_table is not None:
        step_table = step_table[step_table["run"].isin(runs["run"])]
    return RunTables(runs, step_table, tuple(skipped), duplicates)
