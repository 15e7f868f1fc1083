"""Hydra launchers ``hydra/launcher=slurm|slurm_multigpu|slurm_multinode|submitit_cpu``: Hydra's submitit
launchers (SLURM, and submitit's local executor) with three changes for long sweeps on preemptible clusters.

1. **A job that ends without a result fails only itself.** Hydra's launcher collects every job with
   ``job.results()``, in index order. A job killed by SIGKILL, the OOM killer, ``scancel`` or a lost node
   has no result, so submitit raises UncompletedJobError. The multirun then ends with a traceback, the
   other jobs are never collected and there is no report. Here such a job gets a failed record in
   jobs.jsonl, naming its submitit logs, and the sweep goes on. Its run directory keeps what it logged;
   ``store.run_state`` calls it stale and ``resume=true`` continues it.
2. **A running tally.** Jobs are collected as they finish, not in index order, and each one logs
   ``[k/N jobs] ...`` (the local launcher's line), so a sweep of hundreds of jobs shows how far it is.
3. **A requeued job resumes its own run.** On preemption or at its time limit, submitit resubmits the
   job through ``checkpoint``; the resubmission adds ``resume=true`` to its overrides. Without it, the
   requeued job would find the run it had started itself, interrupted, and refuse it ("already holds a
   run ... Add resume=true"). That is right for a user's typo, but never for this same job. With
   ``resume=true`` it continues from the run's last checkpoint (``resume`` takes precedence over
   ``overwrite``, so an ``overwrite=true`` job does not wipe its own progress when it is requeued).

Hydra builds the executor and submits the array; only the collection differs. Its launcher gives no hook
between submitting and collecting, so ``launch`` wraps the executor's ``map_array`` for the duration of the
call: the wrapper submits, waits for every job as above and hands back finished results.

This module is imported by Hydra's plugin scan at every start; submitit itself is imported lazily.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence
from unittest import mock

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher as hydra_submitit

from hydra_plugins.workbench_launcher.local_launcher import RunningTally, job_config, lost_job

log = logging.getLogger(__name__)
POLL_S = 2.0            # between looks at unfinished jobs (submitit rate-limits its own sacct calls)
RESUME = "resume=true"


def with_resume(overrides: Sequence[str]) -> list[str]:
    """The overrides of a requeued job: the same, with any ``resume=...`` replaced by ``resume=true``."""
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "resume"]
    return [*kept, RESUME]


class _Finished:
    """What Hydra's launcher gets back in place of a submitit job: ``results()`` of one finished job."""

    def __init__(self, job_return: JobReturn) -> None:
        self._return = job_return

    def results(self) -> list[JobReturn]:
        return [self._return]


class _WorkbenchSubmitit:
    """The three changes of the module docstring, mixed into Hydra's two submitit launchers."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        submit = submitit.AutoExecutor.map_array

        def map_array(executor, fn, *iterables):
            jobs = submit(executor, fn, *iterables)
            overrides, indices = iterables[0], iterables[2]
            return [_Finished(r) for r in self._collect(jobs, overrides, indices)]

        with mock.patch.object(submitit.AutoExecutor, "map_array", map_array):
            return super().launch(job_overrides, initial_job_idx)

    def _collect(self, jobs: list, overrides: Sequence, indices: Sequence[int]) -> list[JobReturn]:
        """Each job's JobReturn, in submission order, gathered as the jobs finish."""
        results = RunningTally(len(jobs))
        waiting = dict(enumerate(jobs))
        while waiting:
            finished = [i for i, job in waiting.items() if job.done()]
            for i in finished:
                results.add(i, self._result(waiting.pop(i), list(overrides[i]), indices[i]))
            if waiting and not finished:
                time.sleep(POLL_S)
        return [results[i] for i in range(len(jobs))]

    def _result(self, job, overrides: list[str], idx: int) -> JobReturn:
        from submitit.core.utils import UncompletedJobError

        try:
            return job.results()[0]
        except UncompletedJobError:   # no result file: the process was killed, cancelled or lost its node
            why = (f"ended without a result (submitit state {job.state}): killed (SIGKILL, out of memory), "
                   f"cancelled, or its node was lost")
        except Exception as exc:      # an error outside the task function, e.g. unpickling the job
            lines = str(exc).strip().splitlines()
            why = f"failed outside the run: {lines[-1] if lines else type(exc).__name__}"
        cfg = job_config(self.hydra_context, self.config, overrides, idx, str(job.job_id))
        return lost_job(cfg, overrides, "failed",
                        f"submitit job {job.job_id} {why}; its logs: {job.paths.stdout}, {job.paths.stderr}; "
                        f"its run directory keeps what it logged (resume=true continues it)")

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Resubmit this job (submitit calls this on preemption or at the time limit), resuming its run."""
        if "sweep_overrides" in kwargs:
            kwargs["sweep_overrides"] = with_resume(kwargs["sweep_overrides"])
        else:
            args = (with_resume(args[0]), *args[1:])
        log.warning("requeueing job %s with %s: it continues its run from the last checkpoint",
                    " ".join(args[0] if args else kwargs["sweep_overrides"]), RESUME)
        return super().checkpoint(*args, **kwargs)


class LocalLauncher(_WorkbenchSubmitit, hydra_submitit.LocalLauncher):
    """submitit's local executor (``hydra/launcher=submitit_cpu``)."""


class SlurmLauncher(_WorkbenchSubmitit, hydra_submitit.SlurmLauncher):
    """SLURM (``hydra/launcher=slurm``, ``slurm_multigpu``, ``slurm_multinode``)."""
