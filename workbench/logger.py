"""RunLogger: one object that writes every metric to the local run store and to each logger backend
(W&B, trackio), the same keys to all of them.

    with RunLogger(run_dir, config=resolved, wandb=WandbSettings(...), trackio=TrackioSettings(...)) as log:
        log.log(step, {"reward/accuracy/mean": 0.4, ...})     # metrics.jsonl + every backend
        log.log_eval(step, {"eval/accuracy": 0.5, ...})        # eval.jsonl + every backend
        log.finish(summary)                                    # summary.json, status done, backend summaries

Leaving the ``with`` block through an exception marks the run failed, or interrupted for a
KeyboardInterrupt / SystemExit (Ctrl-C, a second SIGTERM, submitit's requeue), with the last logged
step and the error in status.json, and closes every backend; whatever was logged before stays on disk
because the store flushes every record. The backends are called directly rather than through TRL's
``report_to`` so that they and metrics.jsonl hold identical keys (workbench/metrics.py).

W&B: online only when a short TCP probe reaches the server; otherwise the run logs offline with a
warning (never wandb's 90 s init timeout). trackio: its SQLite data lives in ``<logger.root>/.trackio``,
a folder the workbench creates and marks (``.workbench-trackio``), never in the user's home, written by a
child process (workbench/trackio_child.py); the trackio run mirrors the run store: on every start (new,
replaced or resumed run) it is rebuilt from the store's records, so a resumed run shows each step once.
``python -m analysis.dashboard`` serves it.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from workbench import store as run_store
from workbench.store import DONE, FAILED, INTERRUPTED, RUNNING, RunStore

log = logging.getLogger(__name__)
WANDB_ID_FILE = "wandb_id.txt"  # kept in the run dir so a resumed run continues the same W&B run
PROBE_TIMEOUT_S = 3.0


# wandb.init's own limit is 90 s and run.finish() waits for uploads without one: a server that accepts
# connections and never answers would stall a run that long at start and forever at the end.
INIT_TIMEOUT_S = 30.0
FINISH_TIMEOUT_S = 60.0   # then the rest stays on disk in the run's wandb/ folder for `wandb sync`


def wandb_server_problem(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the W&B server ($WANDB_BASE_URL, default api.wandb.ai) answers an HTTP request within
    ``timeout`` seconds (any status: it is alive), else why not: unreachable, or a server that accepts the
    connection and never answers. wandb itself would wait up to 90 s before failing."""
    import urllib.error
    import urllib.request

    base = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
    url = urlparse(base)
    host, port = url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"cannot reach the W&B server {host}:{port} ({err}); offline runs sync later with `wandb sync`"
    try:
        with urllib.request.urlopen(base.rstrip("/") + "/healthz", timeout=timeout) as response:
            response.read(1)
    except urllib.error.HTTPError:
        return None  # an HTTP status, even an error, is an answer
    except (OSError, ValueError) as err:  # timeout, reset, TLS failure
        return (f"the W&B server {host}:{port} accepts connections but did not answer within {timeout:.0f} s "
                f"({err}); offline runs sync later with `wandb sync`")
    return None


@dataclass
class WandbSettings:
    """What ``wandb.init`` gets (project, run name, group, tags, entity, mode)."""

    project: str
    name: str
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    entity: str | None = None
    mode: str | None = None

    def resolved_mode(self) -> str:
        """logger.mode, else $WANDB_MODE, else online iff WANDB_API_KEY is set (offline never prompts)."""
        if self.mode:
            return self.mode
        if os.environ.get("WANDB_MODE") in ("online", "offline", "disabled"):
            return os.environ["WANDB_MODE"]
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"

    def usable_mode(self) -> str:
        """``resolved_mode``, but offline (with a warning) when online W&B cannot work now: no API key
        (wandb would prompt) or a server that does not answer the probe."""
        mode = self.resolved_mode()
        if mode != "online":
            return mode
        problem = None if os.environ.get("WANDB_API_KEY") else "no WANDB_API_KEY in the environment"
        problem = problem or wandb_server_problem()
        if problem:
            log.warning("W&B online is not possible (%s): logging offline instead", problem)
            return "offline"
        return mode


# ---- trackio ----------------------------------------------------------------------------------
TRACKIO_DIR_NAME = ".trackio"          # <logger.root>/.trackio: trackio's data folder (TRACKIO_DIR)
TRACKIO_MARKER = ".workbench-trackio"  # written first when the workbench creates (or adopts) that folder


def run_name(run_dir: str | os.PathLike, root: str | os.PathLike) -> str:
    """A run's name in every backend: its run directory relative to the runs root
    (``demo/math/dvao-tiny-G8-w0.3-0.7-s0``), or the run directory as given when it lies elsewhere."""
    try:
        return Path(run_dir).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(run_dir)


def trackio_dir(root: str | os.PathLike) -> Path:
    """The trackio data folder of a runs root (absolute: TRACKIO_DIR must not depend on the cwd)."""
    return Path(root).resolve() / TRACKIO_DIR_NAME


def trackio_problem(root: str, run_dir: str, project: str) -> str | None:
    """None when logger.trackio can run with these values, else what is wrong and how to fix it.
    Read-only: called by config validation before anything on disk changes."""
    import importlib.util

    if importlib.util.find_spec("trackio") is None:
        return ("logger.trackio needs the trackio package: run `make install` (it installs the `dashboard` "
                "extra) or `pip install -e '.[dashboard]'`.")
    if not isinstance(root, str) or not root.strip():
        return f"logger.root={root!r} must name the runs root folder (e.g. runs)."
    if run_name(run_dir, root) == str(run_dir):
        return (f"run_dir={run_dir} is not under logger.root={root}, where trackio keeps its data "
                f"({TRACKIO_DIR_NAME}): the dashboard of a sweep travels with its runs. Set logger.root to a folder "
                "above run_dir.")
    if not isinstance(project, str) or not project or any(c in project for c in '/\\:*?"<>|') or project[0] in "._":
        return (f"logger.project={project!r} is not a usable trackio project name (it is a file name there): "
                "letters, digits, '-' and '_', not starting with '.' or '_'.")
    resolved = Path(root).resolve()
    if resolved == Path(resolved.anchor) or resolved in (Path.home().resolve(), *Path.home().resolve().parents):
        return (f"logger.root={root} is {'the filesystem root' if resolved == Path(resolved.anchor) else 'your home'}"
                f"; trackio's folder belongs in a runs folder (e.g. logger.root=runs).")
    folder = trackio_dir(root)
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file; trackio needs that path as its data folder: move the file away."
    if folder.is_dir() and not (folder / TRACKIO_MARKER).exists() and any(folder.iterdir()):
        return (f"{folder} exists and was not created by the workbench (no {TRACKIO_MARKER}); it is never written "
                "into. Move it away or set logger.root to another folder.")
    return trackio_data_problem(folder, project)


def trackio_data_problem(folder: Path, project: str | None = None) -> str | None:
    """None when every trackio project file in ``folder`` (or only ``project``'s) opens as SQLite, else which
    does not and what to do. Read-only."""
    import sqlite3

    paths = [folder / f"{project}.db"] if project else sorted(folder.glob("*.db"))
    for path in paths:
        if not path.is_file():
            continue
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as err:
            return (f"{path} is not a readable trackio database ({err}): move it away; the run directories keep "
                    "every record, and each run's trackio copy is rebuilt from them when it starts again "
                    "(resume=true).")
    return None


def claim_trackio_dir(root: str | os.PathLike) -> Path:
    """Create (or adopt when empty) ``<root>/.trackio`` with its marker; an existing marked folder is reused."""
    folder = trackio_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(folder / TRACKIO_MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:  # ours already (another job of the sweep may have written it a moment ago)
        return folder
    try:
        os.write(fd, json.dumps(run_store.marker_record()).encode())
    finally:
        os.close(fd)
    return folder


@dataclass
class TrackioSettings:
    """What ``trackio.init`` gets: the runs root (data in ``<root>/.trackio``), project, run name, group."""

    root: str
    project: str
    name: str
    group: str | None = None


def import_trackio(folder: Path):
    """trackio, reading its data folder from TRACKIO_DIR (set here, before its first import: trackio reads
    it once). Raises RuntimeError when this process imported it earlier with another folder. For a process
    of its own (the dashboard); training logs through workbench/trackio_child.py."""
    os.environ["TRACKIO_DIR"] = str(folder)
    import trackio
    import trackio.utils

    if Path(trackio.utils.TRACKIO_DIR).resolve() != Path(folder).resolve():
        raise RuntimeError(f"trackio was imported earlier in this process with TRACKIO_DIR={trackio.utils.TRACKIO_DIR}; "
                           f"it cannot log to {folder} now: start the run in a new process")
    return trackio


# ---- backends: each gets the same records; W&B and trackio ---------------------------------------
class _Wandb:
    """W&B beside the run store; a resumed run continues the same W&B run (its id in wandb_id.txt)."""

    def __init__(self, settings: WandbSettings):
        self.settings = settings
        self.run = None

    def start(self, store: RunStore, config: dict) -> None:
        import wandb

        s = self.settings
        os.environ.setdefault("WANDB_SILENT", "true")
        id_file = store.path / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
        id_file.write_text(run_id)
        mode = s.usable_mode()

        def init(mode: str):
            return wandb.init(
                project=s.project, entity=s.entity, name=s.name, group=s.group, tags=list(s.tags),
                config=config, dir=str(store.path), id=run_id, resume="allow", mode=mode,
                reinit="finish_previous",  # a second run in the same process (tests, sweeps) closes the first
                settings=wandb.Settings(console="off", silent=True, init_timeout=INIT_TIMEOUT_S,
                                        finish_timeout=FINISH_TIMEOUT_S),
            )

        try:
            self.run = init(mode)
        except Exception as err:  # online: the server failed after the probe (timeout, auth, 5xx)
            if mode != "online":
                raise
            log.warning("W&B online init failed (%s): logging offline instead; `wandb sync` uploads it later", err)
            self.run = init("offline")

    def log(self, step: int, values: dict[str, Any]) -> None:
        self.run.log(values, step=step)

    def summary(self, summary: dict[str, Any]) -> None:
        for key, value in summary.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                self.run.summary[key] = value

    def close(self, exit_code: int) -> None:
        run, self.run = self.run, None
        if run is not None:
            run.finish(exit_code=exit_code)


class _Trackio:
    """trackio beside the run store, written by a child process (workbench/trackio_child.py: trackio reads its
    data folder once per process, and TRL imports it early). Its run is rebuilt from the store at every start
    (fresh, replaced or resumed), so it holds each of the store's records once, under the same keys and steps.
    If the child dies the run goes on without it (a warning says so); the next start rebuilds trackio's copy."""

    START_TIMEOUT_S = 120.0   # the child imports trackio and replays the store

    def __init__(self, settings: TrackioSettings):
        self.settings = settings
        self.child: subprocess.Popen | None = None

    def start(self, store: RunStore, config: dict) -> None:
        s = self.settings
        folder = claim_trackio_dir(s.root)
        self.child = child = subprocess.Popen(
            [sys.executable, "-m", "workbench.trackio_child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "TRACKIO_DIR": str(folder)})
        header = {"project": s.project, "name": s.name, "group": s.group, "config": config, "store": str(store.path)}
        child.stdin.write(json.dumps(header, default=str) + "\n")
        child.stdin.flush()
        ready = _read_line(child.stdout, self.START_TIMEOUT_S)
        if ready.strip() != "ready":
            child.kill()
            error = child.stderr.read().strip().splitlines()
            raise RuntimeError(f"the trackio writer did not start ({error[-1] if error else 'no answer'}); "
                               f"data folder {folder}")
        self._stderr = threading.Thread(target=_drain, args=(child.stderr,), daemon=True)
        self._stderr.start()

    def log(self, step: int, values: dict[str, Any]) -> None:
        if self.child is None:
            return
        try:
            self.child.stdin.write(json.dumps({"step": step, "values": values}) + "\n")
            self.child.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as err:
            log.warning("trackio writer stopped (%s, exit code %s): the run goes on; its trackio copy is rebuilt from "
                        "the run store at its next start (resume=true)", err, self.child.poll())
            self.child = None

    def summary(self, summary: dict[str, Any]) -> None:
        pass  # trackio has no run summary; the final eval values are already logged at their step

    def close(self, exit_code: int) -> None:
        child, self.child = self.child, None
        if child is None:
            return
        with contextlib.suppress(OSError, ValueError):
            child.stdin.close()
        try:
            child.wait(timeout=self.START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            log.warning("the trackio writer did not finish in %.0f s and was stopped", self.START_TIMEOUT_S)


def _read_line(stream, timeout: float) -> str:
    """One line of ``stream``, or "" after ``timeout`` seconds or at EOF."""
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return box[0] if box else ""


def _drain(stream) -> None:
    """Pass the trackio writer's messages on to this process's log: its warnings as warnings, its notes
    ("* Trackio project initialized", how to run `trackio show`: the dashboard is `make dashboard` here)
    at debug level."""
    import re

    notes = False
    for line in stream:
        text = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
        notes = text.startswith("*") or (notes and text.startswith("trackio show"))
        if text:
            log.log(logging.DEBUG if notes else logging.WARNING, "trackio: %s", text)


class RunLogger:
    """Writes metrics to a RunStore and to each backend whose settings are given (``wandb``, ``trackio``).

    ``target``: the RunStore to write (workbench/rundir.py's claim), a path (``RunStore(path)``: a new or
    empty folder or a run directory), or None: a process that must not write (ranks other than 0 under
    torchrun), for which every call is a no-op. ``lock``: the run's RunLock; once another process has
    taken it over (workbench/lock.py), nothing more is written. ``start_step``: the step the records
    already reach (a resumed run's checkpoint), reported by status.json until the first new record.
    """

    def __init__(self, target: RunStore | str | os.PathLike | None, *, config: dict[str, Any] | None = None,
                 wandb: WandbSettings | None = None, trackio: TrackioSettings | None = None,
                 config_yaml: str | None = None, lock=None, start_step: int | None = None):
        self.store = target if isinstance(target, RunStore) or target is None else RunStore(target)
        self.config = config or {}
        self.wandb_settings = wandb
        self.config_yaml = config_yaml
        self.lock = lock
        self.last_step = start_step   # a resumed run starts at its checkpoint's step
        self._pending = ([_Wandb(wandb)] if wandb is not None and wandb.resolved_mode() != "disabled" else []) + \
            ([_Trackio(trackio)] if trackio is not None else [])
        self._backends: list = []     # the started ones
        self._finished = False

    @property
    def is_writer(self) -> bool:
        return self.store is not None and not (self.lock is not None and self.lock.lost.is_set())

    @property
    def path(self) -> Path:
        return self.store.path

    # ---- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> RunLogger:
        if not self.is_writer:
            return self
        if self.config_yaml is not None:
            self.store.write_config(self.config_yaml)
        self.store.set_status(RUNNING, step=self.last_step)
        for backend in self._pending:
            try:
                backend.start(self.store, self.config)
            except BaseException as exc:  # __exit__ does not run when __enter__ raises
                self.store.set_status(FAILED, step=self.last_step, error=f"{_NAMES[type(backend)]} init failed: {exc!r}")
                self._close_backends(exit_code=1)
                raise
            self._backends.append(backend)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is not None and not self._finished and self.is_writer:
                error = "".join(traceback.format_exception_only(exc_type, exc)).strip() or exc_type.__name__
                stopped = issubclass(exc_type, (KeyboardInterrupt, SystemExit))
                try:
                    self.store.set_status(INTERRUPTED if stopped else FAILED, step=self.last_step, error=error)
                except OSError as err:  # e.g. the disk is full: the next command sees the run as stale instead
                    log.error("%s: could not record the run as %s (%s); `python -m workbench.run ... resume=true` "
                              "and the analysis will see it as stale (its process is gone)", self.store.path,
                              "interrupted" if stopped else "failed", err)
        finally:
            self._close_backends(exit_code=0 if exc_type is None else 1)
        return False  # never swallow the exception

    def _close_backends(self, exit_code: int) -> None:
        backends, self._backends = self._backends, []
        for backend in backends:
            backend.close(exit_code)

    # ---- records ----------------------------------------------------------------------------
    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """One training record: metrics.jsonl (flushed) and every backend at ``step``."""
        self.last_step = int(step)
        if not self.is_writer:
            return
        self.store.log_metrics(step, metrics)
        self._send(step, metrics)

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        """One held-out evaluation record: eval.jsonl (flushed) and every backend at ``step``."""
        if not self.is_writer:
            return
        self.store.log_eval(step, metrics)
        self._send(step, metrics)

    def _send(self, step: int, metrics: dict[str, Any]) -> None:
        values = {k: run_store._jsonable(v) for k, v in metrics.items()}
        values = {k: v for k, v in values.items() if v is not None}  # NaN/inf: null in the store, absent here
        for backend in self._backends:
            backend.log(int(step), values)

    def finish(self, summary: dict[str, Any], status: str = DONE) -> None:
        """Write summary.json and the final status; copy the summary into each backend's run summary."""
        if not self.is_writer:
            return
        self.store.write_summary(summary)
        self.store.set_status(status, step=summary.get("step", self.last_step))
        for backend in self._backends:
            backend.summary(summary)
        self._finished = status == DONE


_NAMES = {_Wandb: "W&B", _Trackio: "trackio"}
