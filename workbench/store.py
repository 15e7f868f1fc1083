"""The local run store: one directory per run, readable without W&B.

Layout of a run directory (the contract with sweeps and analysis)::

    .workbench-run   the marker, written first when the workbench creates (or adopts an empty) directory:
                     JSON with the run's uuid, creation time, host, pid and workbench version. Only a
                     directory holding it is ever written into, resumed, locked or replaced.
    .workbench-lock  present while a process writes the run (workbench/lock.py)
    config.yaml      the resolved Hydra config of the run
    grpo_config.json the effective trl.GRPOConfig (LLM runs)
    data_split.json  task=custom: the data file's path and sha256, and which rows were held out
    metrics.jsonl    one JSON object per optimiser step, keys from workbench.metrics; appended and
                     flushed every step, so a crash keeps everything logged so far
    eval.jsonl       one JSON object per evaluation (``step`` plus ``eval/*`` keys)
    metrics-before-restart-<time>.jsonl, eval-before-restart-<time>.jsonl
                     records of an earlier attempt, kept when resume=true found no checkpoint and trained from 0
    summary.json     written once at the end: final eval metrics and the run's config axes (a finished
                     run that resume=true trains on keeps the earlier one as summary-step<N>.json)
    status.json      {"status": "running" | "done" | "failed" | "interrupted", "step": int, "error": str | None, ...}
    checkpoints/     resumable trainer checkpoints
    wandb/           W&B's files for the run (offline runs can be synced later with `wandb sync`)

``run_state(run_dir)`` is what sweeps and analysis ask: the status, with ``stale`` for a run whose
status says running but whose writer is gone (killed, or its host died). docs/faults.md has the guarantees.
"""
from __future__ import annotations

import json
import math
import os
import socket
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from workbench import lock as run_lock

MARKER = ".workbench-run"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
EVAL = "eval.jsonl"
SUMMARY = "summary.json"
STATUS = "status.json"
CHECKPOINTS = "checkpoints"

RUNNING, DONE, FAILED, INTERRUPTED = "running", "done", "failed", "interrupted"
STALE = "stale"  # derived, never written: status.json says running but no live process holds the lock
STATUSES = (RUNNING, DONE, FAILED, INTERRUPTED)


class NotARunDirectory(ValueError):
    """A path the workbench did not create as a run directory (no marker), so it will not write there."""


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (NaN, inf) become None; tensors and numpy scalars become floats."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("dvao-workbench")
    except Exception:  # not installed (a bare checkout on sys.path)
        return "unknown"


def marker_record() -> dict[str, Any]:
    return {"format": 1, "uuid": uuid.uuid4().hex, "created": time.time(), "host": socket.gethostname(),
            "pid": os.getpid(), "workbench_version": _version()}


def read_marker(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The marker's record; None when the directory has no marker. An unreadable marker (a crash
    while writing it) still marks the directory as the workbench's: its record is then ``{}``."""
    path = Path(run_dir) / MARKER
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def is_run_dir(path: str | os.PathLike) -> bool:
    return read_marker(path) is not None


def _write_marker(path: Path) -> None:
    fd = os.open(path / MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # never replaces another's
    try:
        os.write(fd, json.dumps(marker_record()).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def create_run_dir(path: str | os.PathLike) -> None:
    """Make ``path`` a run directory: create it (or adopt it when it exists and is empty) and write the
    marker as the first file. A directory that is already a run directory is left as it is; anything
    else (a file, a non-empty folder without the marker) raises NotARunDirectory."""
    path = Path(path)
    if is_run_dir(path):
        return
    if path.exists() and not path.is_dir():
        raise NotARunDirectory(f"{path} is a file, not a run directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir()
    except FileExistsError:
        if is_run_dir(path):  # another process created it a moment ago
            return
        if any(path.iterdir()):
            raise NotARunDirectory(f"{path} exists, is not empty and was not created by the workbench "
                                   f"(no {MARKER}); it is never written into") from None
    try:
        _write_marker(path)
    except FileExistsError:  # another process adopted it a moment ago: it is a run directory now
        pass


def renew_marker(path: str | os.PathLike) -> None:
    """A new uuid and creation time for a run directory whose run is replaced (overwrite=true)."""
    tmp = Path(path) / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker_record()))
    os.replace(tmp, Path(path) / MARKER)


class RunStore:
    """Writer for one run directory. Every write is flushed before returning.

    ``RunStore(path)`` creates the run directory (marker first) when ``path`` does not exist or is an
    empty folder, opens it when it holds the marker, and raises NotARunDirectory otherwise. Deciding
    whether a run may start, resume or replace what is there is workbench/rundir.py's job.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        create_run_dir(self.path)

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def write_config(self, yaml_text: str) -> None:
        _write_atomic(self.path / CONFIG, yaml_text)

    def _append(self, name: str, record: dict[str, Any]) -> None:
        line = json.dumps({k: _jsonable(v) for k, v in record.items()})
        with naming(self.path / name), open(self.path / name, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def log_metrics(self, step: int, metrics: dict[str, Any]) -> None:
        self._append(METRICS, {"step": int(step), **metrics})

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        self._append(EVAL, {"step": int(step), **metrics})

    def write_json(self, name: str, record: Any) -> None:
        """Write ``record`` as the JSON file ``name`` in the run directory (atomically; a record of the run such
        as grpo_config.json or data_split.json)."""
        assert "/" not in name and name not in (MARKER, CONFIG, METRICS, EVAL, SUMMARY, STATUS), name
        _write_atomic(self.path / name, json.dumps(record, indent=2, default=str))

    def write_summary(self, summary: dict[str, Any]) -> None:
        _write_atomic(self.path / SUMMARY, json.dumps({k: _jsonable(v) for k, v in summary.items()}, indent=2))

    def set_status(self, status: str, step: int | None = None, error: str | None = None, **extra) -> None:
        assert status in STATUSES, status
        record = {"status": status, "step": step, "error": error, "time": time.time(),
                  "host": socket.gethostname(), "pid": os.getpid(), **extra}
        _write_atomic(self.path / STATUS, json.dumps(record, indent=2))

    def truncate_after(self, step: int) -> None:
        """Drop metric and eval records past ``step`` (a resumed run repeats the steps after its checkpoint),
        and any corrupt or half-written line (a killed run's last write), so new records start on a line
        of their own."""
        for name in (METRICS, EVAL):
            path = self.path / name
            if not path.exists():
                continue
            text = "".join(json.dumps(r) + "\n" for r in read_jsonl(path) if r.get("step", 0) <= step)
            if path.read_bytes() != text.encode():
                _write_atomic(path, text)

    def set_aside_records(self) -> list[tuple[Path, int]]:
        """Rename metrics.jsonl and eval.jsonl to ``<name>-before-restart-<time>.jsonl`` (a resume with no
        checkpoint trains from step 0 again: the records logged before are kept, never dropped); returns
        (new path, records) for each file moved."""
        moved = []
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for name in (METRICS, EVAL):
            path = self.path / name
            if path.exists():
                aside = self.path / f"{Path(name).stem}-before-restart-{stamp}.jsonl"
                os.replace(path, aside)
                moved.append((aside, sum(1 for _ in read_jsonl(aside))))
        return moved

    def set_aside_summary(self) -> Path | None:
        """Rename summary.json to summary-step<N>.json (a finished run that trains on has no final
        summary until it finishes again; the earlier one is kept, never silently reused)."""
        path = self.path / SUMMARY
        if not path.exists():
            return None
        try:
            step = json.loads(path.read_text()).get("step")
        except ValueError:
            step = None
        aside = self.path / f"summary-step{step if step is not None else 'unknown'}.json"
        os.replace(path, aside)
        return aside

    def clear(self) -> None:
        """Delete everything in the run directory except its marker and lock (overwrite=true), then give
        the marker a new uuid. Symlinks are removed, never followed."""
        import shutil

        assert is_run_dir(self.path), self.path
        for entry in self.path.iterdir():
            if entry.name in (MARKER, run_lock.LOCK):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        renew_marker(self.path)


@contextmanager
def naming(path: Path) -> Iterator[None]:
    """Re-raise an OSError from writing ``path`` with the file's name in it (a full disk's ENOSPC from
    ``write`` or ``fsync`` names no file), so the one-line error says where the write failed."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with naming(path), open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)  # a half-written copy (a full disk) is never left behind
        except OSError:
            pass
        raise


def read_jsonl(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Records of a JSONL file; a truncated or corrupt line (a run killed mid-write) is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:  # binary junk: a bad line, not a crash
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
        record = json.loads((Path(run_dir) / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class RunState:
    """What a run directory holds now (``run_state``)."""

    status: str | None          # running | done | failed | interrupted | stale; None: no readable status.json
    step: int | None            # last step the status records
    error: str | None
    marked: bool                # has the marker (a run directory of this workbench version)
    holder: run_lock.Holder | None  # the live process writing it now, if any

    def describe(self) -> str:
        text = f"{self.status or 'unstarted'} run" + (f" at step {self.step}" if self.step is not None else "")
        if self.holder is not None:
            text += f", written now by {self.holder.describe()}"
        elif self.status == STALE:
            text += " whose process is gone (killed or its host died)"
        return text


def run_state(run_dir: str | os.PathLike) -> RunState:
    """The run's status as sweeps and analysis should see it: ``stale`` replaces ``running`` when no
    live process holds the run's lock (see workbench/lock.py for how a dead holder is recognised)."""
    status = read_status(run_dir) or {}
    holder = run_lock.live_holder(run_dir)
    value = status.get("status")
    if value == RUNNING and holder is None:
        value = STALE
    return RunState(status=value, step=status.get("step"), error=status.get("error"),
                    marked=is_run_dir(run_dir), holder=holder)


def is_done(run_dir: str | os.PathLike) -> bool:
    status = read_status(run_dir)
    return bool(status) and status.get("status") == DONE and (Path(run_dir) / SUMMARY).exists()


# A folder holding any of these is a run directory (or what is left of one): the analysis reads it or says why not.
RUN_FILES = (MARKER, CONFIG, STATUS, SUMMARY, METRICS)


def discover_runs(root: str | os.PathLike) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(run directories under ``root``, [(folder, why it is left out)]). Symlinked folders are followed (a run
    linked in from elsewhere counts), each real folder once: a second path to a run already found, or a link
    loop, is named in the second list. A run directory is not searched further (its checkpoints/ and wandb/
    hold no runs). Runs written before the marker existed count too: analysis reads them, the workbench never
    writes them."""
    root = Path(root)
    found, left_out, seen = [], [], {}
    for folder, subdirs, files in os.walk(root, followlinks=True):
        path = Path(folder)
        real = path.resolve()
        if real in seen:
            left_out.append((path, f"the same folder as {seen[real]} (a symlink to it); read once"))
            subdirs[:] = []
            continue
        seen[real] = path
        if any(name in files for name in RUN_FILES):
            found.append(path)
            subdirs[:] = []
        else:
            subdirs.sort()
    return sorted(found), left_out


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run directory under ``root``, sorted (``discover_runs``' first list)."""
    return discover_runs(root)[0]
