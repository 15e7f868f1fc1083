"""``python -m hydra_plugins.workbench_launcher.worker [--warm|--fresh]``: a worker of the local launcher.

Reads one line per job from stdin, ``<job_in>\\t<job_out>``, runs the pickled Hydra job and pickles its
JobReturn to ``job_out`` (written atomically: the launcher takes the file's appearance as the job's end).
Exits when stdin closes.

``--warm`` (the launcher's default): the worker imports the heavy stack once (``PRELOAD``: torch,
transformers' trainer, TRL, the workbench's training code), then forks one fresh child per job. The child
starts with everything imported but nothing run, and ends with the job, so no state (torch threads, RNGs,
registries, leaked memory) passes from one job to the next, and a child that crashes fails only its job: the
worker writes ``{"child_ended": ...}`` as the job's result. Signals the launcher passes to the worker go on to
the running child. ``--fresh``: a new interpreter per job (the launcher starts a worker per job).
"""
from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path

# Imported once per warm worker; a job's own imports (task, model, estimator modules) are cheap after these.
PRELOAD = ("torch", "transformers", "transformers.trainer", "trl", "trl.trainer.grpo_trainer", "peft",
           "workbench.run", "workbench.train.llm", "workbench.train.trainer", "workbench.sim")


def run_one(job_in: str, job_out: str) -> None:
    import cloudpickle
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    hydra_context, task_function, cfg, state = cloudpickle.loads(Path(job_in).read_bytes())
    setup_globals()
    Singleton.set_state(state)
    HydraConfig.instance().set_config(cfg)
    ret = run_job(hydra_context=hydra_context, task_function=task_function, config=cfg,
                  job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    write_result(job_out, ret)


def write_result(job_out: str, value) -> None:
    import cloudpickle

    tmp = Path(job_out + ".tmp")
    tmp.write_bytes(cloudpickle.dumps(value))
    os.replace(tmp, job_out)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # an optional part missing (e.g. peft): the job imports what it needs itself
            pass


def how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


class Forked:
    """Runs each job in a forked child; SIGINT/SIGTERM received by the worker are passed to that child."""

    def __init__(self) -> None:
        self.child: int | None = None
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._forward)

    def _forward(self, signum: int, frame) -> None:
        if self.child is not None:
            try:
                os.kill(self.child, signum)
            except ProcessLookupError:
                pass

    def run(self, job_in: str, job_out: str) -> None:
        sys.stdout.flush(), sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: the job's own process, with default signal handling until the run sets its own
            code = 0
            try:
                for s in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(s, signal.SIG_DFL)
                run_one(job_in, job_out)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        self.child = pid
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        self.child = None
        if not Path(job_out).exists():
            write_result(job_out, {"child_ended": how_it_ended(status), "pid": pid})


def main() -> None:
    warm = "--fresh" not in sys.argv[1:]
    if warm:
        preload()
        forked = Forked()
    for line in sys.stdin:
        if not line.strip():
            continue
        job_in, job_out = line.rstrip("\n").split("\t")
        if warm:
            forked.run(job_in, job_out)
        else:
            run_one(job_in, job_out)
            return  # --fresh: one job per interpreter; the launcher starts a new worker for the next


if __name__ == "__main__":
    main()
