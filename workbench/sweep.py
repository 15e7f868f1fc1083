"""Sweep bookkeeping for Hydra multiruns: one job record per job, one report at the end.

Hydra's basic sweeper re-raises the first failed job's exception once its batch is done, which
skips ``on_multirun_end`` and hides how the other jobs went. So in a multirun the entry point
turns an exception into an outcome (see ``workbench.run``): ``failed``, ``busy`` (another live
process writes that run: it was not trained) or ``interrupted`` (a signal stopped it; resume=true
continues it). Each job appends one line to ``<sweep dir>/jobs.jsonl`` (``on_job_end`` runs inside
the job's own process, whatever the launcher; the local launcher writes the line itself for a job
whose process died), and ``SweepReport.on_multirun_end`` reads those lines back and prints the tally.

One sweep folder holds one sweep at a time, and no launch loses another's records:

- ``on_multirun_start`` takes ``<sweep dir>/.workbench-sweep.lock`` (flock, held to the end of the launch): a
  second launch on the same folder while the first runs is refused before it writes anything;
- each launch has an id (``WORKBENCH_SWEEP_LAUNCH``, inherited by its jobs): jobs.jsonl is only ever appended,
  every record carries its launch, and the tally reads only this launch's records;
- before any job starts, every point of the sweep is composed and its run_dir resolved (``check_points``):
  two points with one run_dir (a swept key that is not part of run_dir) refuse the sweep, naming them.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from workbench import distributed
from workbench.store import read_jsonl

JOBS_FILE = "jobs.jsonl"
SWEEP_LOCK = ".workbench-sweep.lock"
LAUNCH_ENV = "WORKBENCH_SWEEP_LAUNCH"   # this launch's id, set by on_multirun_start, inherited by its jobs

# Outcomes a job can report in its return value (``{"outcome": ..., ...}``).
DONE, SKIPPED, FAILED, BUSY, INTERRUPTED = "done", "skipped", "failed", "busy", "interrupted"
OUTCOMES = (DONE, SKIPPED, FAILED, BUSY, INTERRUPTED)
INCOMPLETE = (FAILED, BUSY, INTERRUPTED)  # a sweep with any of these exits 1


def job_record(config: DictConfig, job_return: JobReturn) -> dict[str, Any]:
    """The jobs.jsonl line for one finished job; a job that raised counts as failed."""
    runtime = config.hydra.runtime
    record: dict[str, Any] = {
        "job": config.hydra.job.get("num"),
        "overrides": list(config.hydra.overrides.task),
        "log": str(Path(runtime.output_dir) / f"{config.hydra.job.name}.log"),
        "launch": current_launch(),
    }
    value = job_return._return_value
    record["outcome"] = outcome(job_return)
    if job_return.status != JobStatus.COMPLETED:
        record.update(run_dir=None, error=repr(value))
    elif isinstance(value, dict):
        record.update(run_dir=value.get("run_dir"), error=value.get("error"))
    else:
        record.update(run_dir=None, error=None)
    return record


def outcome(job_return: JobReturn) -> str:
    """What a finished job reports (``job_record``'s outcome): its returned outcome, else done or failed."""
    if job_return.status != JobStatus.COMPLETED:
        return FAILED
    value = job_return._return_value
    return value.get("outcome", DONE) if isinstance(value, dict) else DONE


def current_launch() -> str | None:
    return os.environ.get(LAUNCH_ENV) or None


def new_launch_id() -> str:
    """Sortable and unique across hosts and processes: time, host, pid, random."""
    import socket

    return f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def read_jobs(sweep_dir: str | os.PathLike, launch: str | None = None) -> list[dict[str, Any]]:
    """The job records of ``sweep_dir``'s jobs.jsonl; with ``launch``, only that launch's."""
    jobs = [j for j in read_jsonl(Path(sweep_dir) / JOBS_FILE) if isinstance(j, dict) and "outcome" in j]
    return [j for j in jobs if j.get("launch") == launch] if launch is not None else jobs


def tally(jobs: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for job in jobs:
        counts[job["outcome"]] = counts.get(job["outcome"], 0) + 1
    return counts


class SweepReport(Callback):
    """Records every job of a multirun and prints how many finished, were skipped, failed, were busy or
    interrupted; exits 1 unless every run is done."""

    def __init__(self) -> None:
        self._lock_fd: int | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        self._lock_fd = lock_sweep_dir(sweep_dir)
        os.environ[LAUNCH_ENV] = new_launch_id()  # jobs.jsonl is appended: the tally counts this launch only
        try:
            check_points(config)
        except SweepRefused as exc:
            print(f"Error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN or distributed.env_rank() != 0:
            return  # a job of several tasks (slurm_multigpu) is one job: its rank 0 records it
        append_job(config, job_record(config, job_return))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = read_jobs(config.hydra.sweep.dir, current_launch())
        counts = tally(jobs)
        print(f"\nsweep {config.get('sweep') or ''} ({config.hydra.sweep.dir}): {summary_line(counts)}", flush=True)
        for job in jobs:
            if job["outcome"] in INCOMPLETE:
                print(f"  {job['outcome'].upper()} {' '.join(job['overrides'])}\n    error: {job['error']}\n"
                      f"    log:   {job['log']}")
        if any(counts[o] for o in INCOMPLETE):
            # A sweep with failures should not look green to a script or a Makefile.
            sys.exit(1)


def summary_line(counts: dict[str, int]) -> str:
    line = f"{counts[DONE]} finished, {counts[SKIPPED]} skipped (already done), {counts[FAILED]} failed"
    if counts[BUSY]:
        line += f", {counts[BUSY]} busy (another process is writing them; not trained)"
    if counts[INTERRUPTED]:
        line += f", {counts[INTERRUPTED]} interrupted (resume=true continues them)"
    return line


def append_job(config: DictConfig, record: dict[str, Any]) -> None:
    """Append one job's record to the sweep's jobs.jsonl."""
    line = json.dumps(record) + "\n"
    sweep_dir = Path(config.hydra.sweep.dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    # One short O_APPEND write per job: safe with parallel jobs on one filesystem.
    fd = os.open(sweep_dir / JOBS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)



class SweepRefused(ValueError):
    """A sweep that cannot run as typed; nothing was written."""


def lock_sweep_dir(sweep_dir: Path) -> int:
    """An exclusive flock on ``<sweep_dir>/.workbench-sweep.lock`` for this process's lifetime (the kernel drops
    it when the launcher exits, however it dies); SystemExit(1) naming the holder when another launch holds it."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(sweep_dir / SWEEP_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 400, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        print(f"Error: hydra.sweep.dir={str(sweep_dir)!r} is in use by another sweep ({holder}); nothing was "
              f"written. Wait for it to end, or give this sweep its own folder (hydra.sweep.dir=...).",
              file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
    return fd


def sweep_points(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides as Hydra's basic sweeper will expand them (``hydra.sweeper.params`` and the
    command line's sweep overrides); None for another sweeper (its launcher checks each batch instead)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not str(config.hydra.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    # Unresolved: an override such as run_dir=runs/${method.name}-s${seed} must be expanded per point, not
    # read back resolved against the sweep's own (first-point) config.
    params = OmegaConf.to_container(config.hydra.sweeper.params, resolve=False) if config.hydra.sweeper.get("params") else {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
    return [list(point) for batch in batches for point in batch]


def point_run_dirs(config: DictConfig, points: list[list[str]]) -> list[str]:
    """The resolved run_dir of each point, composed as its job will be."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    loader = GlobalHydra.instance().config_loader()
    return [resolved_run_dir(loader.load_sweep_config(config, point)) for point in points]


def resolved_run_dir(cfg: DictConfig) -> str:
    """A composed job config's run_dir, absolute (``${hydra:...}`` in it resolved against the job's config)."""
    from hydra.core.hydra_config import HydraConfig

    saved = HydraConfig.instance().cfg
    try:
        HydraConfig.instance().set_config(cfg)
        return os.path.normpath(os.path.abspath(str(cfg.run_dir)))
    finally:
        HydraConfig.instance().cfg = saved


def duplicate_run_dirs(points: list[list[str]], run_dirs: list[str]) -> dict[str, list[list[str]]]:
    """run_dir -> the points that share it, for every run_dir two or more points resolve to."""
    seen: dict[str, list[list[str]]] = {}
    for point, run_dir in zip(points, run_dirs):
        seen.setdefault(run_dir, []).append(point)
    return {d: ps for d, ps in seen.items() if len(ps) > 1}


def refuse_duplicates(points: list[list[str]], run_dirs: list[str]) -> None:
    dups = duplicate_run_dirs(points, run_dirs)
    if not dups:
        return
    lines = []
    for run_dir, shared in list(dups.items())[:5]:
        lines.append(f"  {run_dir}:\n" + "".join(f"    {' '.join(p)}\n" for p in shared[:4]))
    more = f"  ... and {len(dups) - 5} more run_dirs\n" if len(dups) > 5 else ""
    raise SweepRefused(f"{len(dups)} run_dir(s) would be shared by several points of this sweep, so one job would "
                       f"refuse, skip or (overwrite=true) replace another's run; no job was started:\n"
                       f"{''.join(lines)}{more}Put the swept key in run_dir (e.g. run_dir=runs/x/lr$" "{task.lr}-s$"
                       "{seed}), or sweep it in separate sweeps.")


def check_points(config: DictConfig) -> None:
    """SweepRefused when two points of the sweep share a run_dir (see the module docstring)."""
    points = sweep_points(config)
    if points:
        refuse_duplicates(points, point_run_dirs(config, points))
