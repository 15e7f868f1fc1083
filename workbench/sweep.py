"""Sweep bookkeeping for Hydra multiruns: one job record per job, one report at the end.

Hydra's basic sweeper re-raises the first failed job's exception once its batch is done, which
skips ``on_multirun_end`` and hides how the other jobs went. So in a multirun the entry point
turns an exception into an outcome (see ``workbench.run``): ``failed``, ``busy`` (another live
process writes that run: it was not trained) or ``interrupted`` (a signal stopped it; resume=true
continues it). Each job appends one line to ``<sweep dir>/jobs.jsonl`` (``on_job_end`` runs inside
the job's own process, whatever the launcher; the local launcher writes the line itself for a job
whose process died), and ``SweepReport.on_multirun_end`` reads those lines back and prints the tally.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from workbench import distributed
from workbench.store import read_jsonl

JOBS_FILE = "jobs.jsonl"

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


def read_jobs(sweep_dir: str | os.PathLike) -> list[dict[str, Any]]:
    return list(read_jsonl(Path(sweep_dir) / JOBS_FILE))


def tally(jobs: list[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for job in jobs:
        counts[job["outcome"]] = counts.get(job["outcome"], 0) + 1
    return counts


class SweepReport(Callback):
    """Records every job of a multirun and prints how many finished, were skipped, failed, were busy or
    interrupted; exits 1 unless every run is done."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # A re-run of the same sweep reuses its directory: the tally is about this invocation only.
        (Path(config.hydra.sweep.dir) / JOBS_FILE).unlink(missing_ok=True)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN or distributed.env_rank() != 0:
            return  # a job of several tasks (slurm_multigpu) is one job: its rank 0 records it
        append_job(config, job_record(config, job_return))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = read_jobs(config.hydra.sweep.dir)
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

