"""Hydra launcher ``hydra/launcher=local``: jobs in ``n_jobs`` worker processes, each job in a process of its own.

Hydra's joblib launcher runs jobs in a loky worker pool; when one worker dies (killed, out of memory)
joblib raises TerminatedWorkerError and the whole multirun stops with no report. Here each of ``n_jobs``
threads drives one worker process (``python -m hydra_plugins.workbench_launcher.worker``). With ``warm``
(the default) the worker imports torch, transformers and TRL once and forks a fresh child per job, so a
job starts warm yet shares no state with the jobs before it; ``warm: false`` starts a new interpreter per
job. A job whose process dies fails only itself: the launcher writes that job's jobs.jsonl record (how the
process ended, its log) and the other jobs run on. Each launch keeps its job pickles in a folder of its own,
``.jobs/<launch id>/``, removed at its end; folders that a dead launcher left are removed at the next launch
(which holds the sweep folder's lock, so no live launcher owns them) and never read. Ctrl-C or SIGTERM to the
sweep is passed once to each running worker (its job stops at the next step boundary after a
checkpoint; a second signal stops it at once); jobs not started yet are reported as interrupted. The
workers run in their own sessions so that a terminal's Ctrl-C reaches them only through the launcher.

This module is imported by Hydra's plugin scan at every start, so it imports nothing heavy.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)
JOBS_SUBDIR = ".jobs"   # under the sweep dir: each job's pickled input and result while it runs
POLL_S = 0.2            # how often a thread looks for its job's result (or its worker's death)


class _Forwarder:
    """In the launcher's main thread: SIGINT/SIGTERM set ``stopping`` and are passed to each running job."""

    def __init__(self) -> None:
        self.stopping = False
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Forwarder:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame) -> None:
        self.stopping = True
        with self._lock:
            procs = list(self._procs)
        log.warning("%s: passing it to %d running job(s); jobs not started yet will not start",
                    signal.Signals(signum).name, len(procs))
        for proc in procs:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def start(self, args: list[str]) -> subprocess.Popen | None:
        with self._lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, text=True, start_new_session=True)
            self._procs.add(proc)
            return proc

    def done(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)


def _how_it_ended(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class RunningTally(dict):
    """Job index -> JobReturn, filled by the driving threads; each addition logs the running tally, so a
    long sweep shows how far it is and how many jobs failed without waiting for the end-of-sweep report."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self._lock = threading.Lock()

    def add(self, idx: int, ret: JobReturn) -> None:
        from workbench import sweep

        with self._lock:
            self[idx] = ret
            counts = sweep.tally([{"outcome": sweep.outcome(r)} for r in self.values()])
            log.info("[%d/%d jobs] %s", len(self), self.total, sweep.summary_line(counts))


class LocalLauncher(Launcher):
    def __init__(self, n_jobs: int = -1, warm: bool = True) -> None:
        self.n_jobs = n_jobs
        self.warm = warm
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.task_function, self.hydra_context = config, task_function, hydra_context

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        from workbench import sweep

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        workers = self.n_jobs if self.n_jobs and self.n_jobs > 0 else (os.cpu_count() or 1)
        log.info("Launching %d jobs, %d at a time, each in its own process%s; sweep output dir: %s",
                 len(job_overrides), workers, " (warm workers)" if self.warm else "", sweep_dir)
        jobs = []
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            cfg = job_config(self.hydra_context, self.config, list(overrides), idx)
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            jobs.append((idx, list(overrides), cfg))
        # Another sweeper than the basic one: its points were not checked at the start (workbench.sweep).
        sweep.refuse_duplicates([o for _, o, _ in jobs], [sweep.resolved_run_dir(c) for _, _, c in jobs])
        job_dir = launch_jobs_dir(sweep_dir)
        state = Singleton.get_state()
        pending: queue.SimpleQueue = queue.SimpleQueue()
        for job in jobs:
            pending.put(job)
        results = RunningTally(len(jobs))
        with _Forwarder() as forwarder, ThreadPoolExecutor(workers) as pool:
            try:
                for _ in pool.map(lambda _: self._drive(pending, results, state, forwarder, job_dir), range(workers)):
                    pass
            finally:
                _remove_tree(job_dir)
        return [results[idx] for idx, _, _ in jobs]

    def _drive(self, pending: queue.SimpleQueue, results: dict, state: Any, forwarder: _Forwarder,
               job_dir: Path) -> None:
        """One thread: run jobs from ``pending`` in one worker process, restarted when it dies."""
        proc = None
        try:
            while True:
                try:
                    idx, overrides, cfg = pending.get_nowait()
                except queue.Empty:
                    return
                if not forwarder.stopping and (proc is None or proc.poll() is not None):
                    proc = forwarder.start([sys.executable, "-m", "hydra_plugins.workbench_launcher.worker"]
                                           + (["--warm"] if self.warm else ["--fresh"]))
                if forwarder.stopping or proc is None:
                    results.add(idx, lost_job(cfg, overrides, "interrupted", "not started: the sweep was interrupted"))
                    continue
                results.add(idx, self._run(proc, idx, overrides, cfg, state, job_dir))
                if not self.warm:  # a fresh interpreter per job: let this one exit before the next starts
                    proc.stdin.close()
                    proc.wait()
                    forwarder.done(proc)
                    proc = None
        finally:
            if proc is not None:
                if proc.poll() is None:
                    proc.stdin.close()  # no more jobs: the worker exits
                    proc.wait()
                forwarder.done(proc)

    def _run(self, proc: subprocess.Popen, idx: int, overrides: list[str], cfg: DictConfig, state: Any,
             job_dir: Path) -> JobReturn:
        import cloudpickle

        job_in = job_dir / f"{idx}.in.pkl"
        job_out = job_dir / f"{idx}.out.pkl"
        job_in.write_bytes(cloudpickle.dumps((self.hydra_context, self.task_function, cfg, state)))
        try:
            try:
                proc.stdin.write(f"{job_in}\t{job_out}\n")
                proc.stdin.flush()
            except BrokenPipeError:
                pass  # the worker died between jobs: reported below
            while not job_out.exists() and proc.poll() is None:
                time.sleep(POLL_S)
            if job_out.exists():
                ret = cloudpickle.loads(job_out.read_bytes())
                if isinstance(ret, dict) and "child_ended" in ret:  # a warm worker's child died mid-job
                    return lost_job(cfg, overrides, "failed",
                                    f"the job's process (pid {ret['pid']}) {ret['child_ended']} before it finished; "
                                    f"its run directory keeps what it logged (resume=true continues it)")
                return ret
            return lost_job(cfg, overrides, "failed",
                              f"the job's process (pid {proc.pid}) {_how_it_ended(proc.returncode)} before it "
                              f"finished; its run directory keeps what it logged (resume=true continues it)")
        finally:
            job_in.unlink(missing_ok=True)
            job_out.unlink(missing_ok=True)


def launch_jobs_dir(sweep_dir: Path) -> Path:
    """``<sweep dir>/.jobs/<launch id>/``, new; removes what dead launches left in .jobs/ (this launch holds
    the sweep folder's lock, workbench.sweep, so no live launcher on this folder owns them)."""
    from workbench import sweep

    root = sweep_dir / JOBS_SUBDIR
    launch = sweep.current_launch() or sweep.new_launch_id()
    if root.is_dir():
        for stale in root.iterdir():
            if stale.name != launch:
                log.warning("removing %s, left by a launcher that died; its jobs were never reported as results", stale)
                _remove_tree(stale)
    path = root / launch
    path.mkdir(parents=True, exist_ok=True)
    return path


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def job_config(hydra_context: HydraContext, config: DictConfig, overrides: list[str], idx: int,
               job_id: str | None = None) -> DictConfig:
    """Job ``idx``'s config as Hydra composes it for a sweep job: its id (``<job name>_<idx>`` unless the
    launcher has its own, e.g. submitit's job id), number and output folder under the sweep dir."""
    cfg = hydra_context.config_loader.load_sweep_config(config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.id = job_id if job_id is not None else f"{cfg.hydra.job.name}_{idx}"
        cfg.hydra.job.num = idx
        cfg.hydra.runtime.output_dir = os.path.abspath(Path(str(config.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir))
    return cfg


def lost_job(cfg: DictConfig, overrides: list[str], outcome: str, error: str) -> JobReturn:
    """The JobReturn (and jobs.jsonl record) of a job that returned nothing: a completed job whose value
    is the outcome, as workbench.run returns for a failed job, so the sweep goes on."""
    from workbench import sweep

    log.error("job #%s %s: %s", cfg.hydra.job.num, " ".join(filter_overrides(overrides)), error)
    value = {"outcome": outcome, "run_dir": None, "error": error}
    ret = JobReturn(overrides=overrides, cfg=cfg, hydra_cfg=cfg, working_dir=os.getcwd(),
                    task_name=str(cfg.hydra.job.name), status=JobStatus.COMPLETED, _return_value=value)
    sweep.append_job(cfg, sweep.job_record(cfg, ret))
    return ret
