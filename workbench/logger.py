"""RunLogger: one object that writes every metric to the local run store and to W&B, same keys.

    with RunLogger(run_dir, config=resolved, wandb=WandbSettings(...)) as log:
        log.log(step, {"reward/accuracy/mean": 0.4, ...})     # metrics.jsonl + wandb.log
        log.log_eval(step, {"eval/accuracy": 0.5, ...})        # eval.jsonl + wandb.log
        log.finish(summary)                                    # summary.json, status done, W&B summary

Leaving the ``with`` block through an exception, KeyboardInterrupt included, marks the run failed
(status.json keeps the last logged step and the error) and closes W&B; whatever was logged before
stays on disk because the store flushes every record. W&B is called directly rather than through
TRL's ``report_to`` so that W&B and metrics.jsonl hold identical keys.
"""
from __future__ import annotations

import os
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import store as run_store
from workbench.store import DONE, FAILED, RUNNING, RunStore

WANDB_ID_FILE = "wandb_id.txt"  # kept in the run dir so a resumed run continues the same W&B run


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


class RunLogger:
    """Writes metrics to ``RunStore(run_dir)`` and, when ``wandb`` settings are given, to W&B."""

    def __init__(self, run_dir: str | os.PathLike, *, config: dict[str, Any] | None = None,
                 wandb: WandbSettings | None = None, config_yaml: str | None = None):
        self.store = RunStore(run_dir)
        self.config = config or {}
        self.wandb_settings = wandb
        self.config_yaml = config_yaml
        self.last_step: int | None = None
        self._run = None   # the wandb Run, when W&B is on
        self._finished = False
        # Under torchrun/accelerate every process runs this code; only rank 0 writes.
        self.is_writer = int(os.environ.get("RANK", "0")) == 0

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
        if not self.is_writer:
            return False
        try:
            if exc_type is not None and not self._finished:
                error = "".join(traceback.format_exception_only(exc_type, exc)).strip() or exc_type.__name__
                self.store.set_status(FAILED, step=self.last_step, error=error)
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
            config=self.config, dir=str(self.path), id=run_id, resume="allow", mode=s.resolved_mode(),
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
