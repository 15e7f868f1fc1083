"""RunLogger: one object that writes every metric to the local run store and to W&B, same keys.

    with RunLogger(run_dir, config=resolved, wandb=WandbSettings(...)) as log:
        log.log(step, {"reward/accuracy/mean": 0.4, ...})     # metrics.jsonl + wandb.log
        log.log_eval(step, {"eval/accuracy": 0.5, ...})        # eval.jsonl + wandb.log
        log.finish(summary)                                    # summary.json, status done, W&B summary

Leaving the ``with`` block through an exception marks the run failed, or interrupted for a
KeyboardInterrupt / SystemExit (Ctrl-C, a second SIGTERM, submitit's requeue), with the last logged
step and the error in status.json, and closes W&B; whatever was logged before stays on disk because
the store flushes every record. W&B is called directly rather than through TRL's ``report_to`` so
that W&B and metrics.jsonl hold identical keys. Online W&B is used only when a short TCP probe
reaches the server; otherwise the run logs offline with a warning (never wandb's 90 s init timeout).
"""
from __future__ import annotations

import logging
import os
import socket
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


def wandb_server_problem(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to the W&B server ($WANDB_BASE_URL, default api.wandb.ai) opens within
    ``timeout`` seconds, else why not. wandb itself would retry for about 90 s before failing."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    host, port = url.hostname or "api.wandb.ai", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        return f"cannot reach the W&B server {host}:{port} ({err}); offline runs sync later with `wandb sync`"
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


class RunLogger:
    """Writes metrics to a RunStore and, when ``wandb`` settings are given, to W&B.

    ``target``: the RunStore to write (workbench/rundir.py's claim), a path (``RunStore(path)``: a new or
    empty folder or a run directory), or None: a process that must not write (ranks other than 0 under
    torchrun), for which every call is a no-op. ``lock``: the run's RunLock; once another process has
    taken it over (workbench/lock.py), nothing more is written. ``start_step``: the step the records
    already reach (a resumed run's checkpoint), reported by status.json until the first new record.
    """

    def __init__(self, target: RunStore | str | os.PathLike | None, *, config: dict[str, Any] | None = None,
                 wandb: WandbSettings | None = None, config_yaml: str | None = None, lock=None,
                 start_step: int | None = None):
        self.store = target if isinstance(target, RunStore) or target is None else RunStore(target)
        self.config = config or {}
        self.wandb_settings = wandb
        self.config_yaml = config_yaml
        self.lock = lock
        self.last_step = start_step   # a resumed run starts at its checkpoint's step
        self._run = None   # the wandb Run, when W&B is on
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
        if self.wandb_settings is not None and self.wandb_settings.resolved_mode() != "disabled":
            try:
                self._run = self._init_wandb(self.wandb_settings)
            except BaseException as exc:  # __exit__ does not run when __enter__ raises
                self.store.set_status(FAILED, step=self.last_step, error=f"W&B init failed: {exc!r}")
                raise
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is not None and not self._finished and self.is_writer:
                error = "".join(traceback.format_exception_only(exc_type, exc)).strip() or exc_type.__name__
                stopped = issubclass(exc_type, (KeyboardInterrupt, SystemExit))
                self.store.set_status(INTERRUPTED if stopped else FAILED, step=self.last_step, error=error)
        finally:
            self._close_wandb(exit_code=0 if exc_type is None else 1)
        return False  # never swallow the exception

    def _init_wandb(self, s: WandbSettings):
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        id_file = self.path / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:8]
        id_file.write_text(run_id)
        run = wandb.init(
            project=s.project, entity=s.entity, name=s.name, group=s.group, tags=list(s.tags),
            config=self.config, dir=str(self.path), id=run_id, resume="allow", mode=s.usable_mode(),
            reinit="finish_previous",  # a second run in the same process (tests, sweeps) closes the first
            settings=wandb.Settings(console="off", silent=True),
        )
        return run

    def _close_wandb(self, exit_code: int) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.finish(exit_code=exit_code)

    # ---- records ----------------------------------------------------------------------------
    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """One training record: metrics.jsonl (flushed) and W&B at ``step``."""
        self.last_step = int(step)
        if not self.is_writer:
            return
        self.store.log_metrics(step, metrics)
        self._wandb_log(step, metrics)

    def log_eval(self, step: int, metrics: dict[str, Any]) -> None:
        """One held-out evaluation record: eval.jsonl (flushed) and W&B at ``step``."""
        if not self.is_writer:
            return
        self.store.log_eval(step, metrics)
        self._wandb_log(step, metrics)

    def _wandb_log(self, step: int, metrics: dict[str, Any]) -> None:
        if self._run is not None:
            values = {k: run_store._jsonable(v) for k, v in metrics.items()}
            self._run.log({k: v for k, v in values.items() if v is not None}, step=int(step))

    def finish(self, summary: dict[str, Any], status: str = DONE) -> None:
        """Write summary.json and the final status; copy the summary into the W&B run's summary."""
        if not self.is_writer:
            return
        self.store.write_summary(summary)
        self.store.set_status(status, step=summary.get("step", self.last_step))
        if self._run is not None:
            for key, value in summary.items():
                if isinstance(value, (int, float, str, bool)) or value is None:
                    self._run.summary[key] = value
        self._finished = status == DONE
