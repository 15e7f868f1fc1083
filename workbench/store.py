"""The local run store: one directory per run, readable without W&B.

Layout of a run directory (the contract with sweeps and analysis)::

    config.yaml      the resolved Hydra config of the run
    metrics.jsonl    one JSON object per optimiser step, keys from workbench.metrics; appended and
                     flushed every step, so a crash keeps everything logged so far
    eval.jsonl       one JSON object per evaluation (``step`` plus ``eval/*`` keys)
    summary.json     written once at the end: final eval metrics and the run's config axes
    status.json      {"status": "running" | "done" | "failed", "step": int, "error": str | None, ...}
    checkpoints/     resumable trainer checkpoints
    wandb/           W&B's files for the run (offline runs can be synced later with `wandb sync`)
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
EVAL = "eval.jsonl"
SUMMARY = "summary.json"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"

RUNNING, DONE, FAILED = "running", "done", "failed"


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (NaN, inf) become None; tensors and numpy scalars become floats."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunStore:
    """Writer for one run directory. Every write is flushed before returning."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / CHECKPOINTS).mkdir(exist_ok=True)

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def write_config(self, yaml_text: str) -> None:
        (self.path / CONFIG).write_text(yaml_text)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        line = json.dumps({k: _jsonable(v) for k, v in record.items()})
        with open(self.path / name, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def log_metrics(self, step: int, metrics: dict[str, Any]) -> None:
        self._append(METRICS, {"step": int(step), **metrics})

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        self._append(EVAL, {"step": int(step), **metrics})

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_json_atomic(self.path / SUMMARY, {k: _jsonable(v) for k, v in summary.items()})

    def set_status(self, status: str, step: int | None = None, error: str | None = None, **extra) -> None:
        assert status in (RUNNING, DONE, FAILED), status
        record = {"status": status, "step": step, "error": error, "time": time.time(), **extra}
        _write_json_atomic(self.path / STATUS, record)

    def truncate_after(self, step: int) -> None:
        """Drop metric and eval records past ``step`` (a resumed run repeats the steps after its checkpoint)."""
        for name in (METRICS, EVAL):
            records = list(read_jsonl(self.path / name))
            kept = [r for r in records if r.get("step", 0) <= step]
            if len(kept) != len(records):
                tmp = self.path / (name + ".tmp")
                tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
                os.replace(tmp, self.path / name)


def _write_json_atomic(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a truncated or corrupt line (a run killed mid-write) is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                warnings.warn(f"{path}:{lineno}: skipping a truncated or corrupt line", stacklevel=2)


def read_status(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's status record, or None when the directory holds no readable status.json."""
    try:
        return json.loads((Path(run_dir) / STATUS).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def is_done(run_dir: str | os.PathLike) -> bool:
    status = read_status(run_dir)
    return bool(status) and status.get("status") == DONE and (Path(run_dir) / SUMMARY).exists()


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run directory (one holding config.yaml) under ``root``, sorted."""
    return sorted(p.parent for p in Path(root).rglob(CONFIG))
