"""`python -m workbench.run [method=dvao] [task=math] [model=tiny] [G=8] [steps=40] [resume=true] ...`

A thin Hydra entry point over conf/: ``main`` composes the config and calls ``run(cfg)``, which
``validate``s everything a user typed before anything on disk changes, claims the run directory
(workbench/rundir.py: refuse, start, resume, replace, or return a finished run's summary; the run's
lock is held to the end), trains under a graceful-stop signal handler (workbench/interrupt.py) and
returns the run's summary. docs/faults.md says what the run store promises.
"""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from workbench import rundir
from workbench.interrupt import Interrupted, graceful_stop
from workbench.lock import LockBusy
from workbench.logger import RunLogger, TrackioSettings, WandbSettings, run_name
from workbench.train import config as C

log = logging.getLogger(__name__)


def wandb_settings(run: C.RunConfig, k: int | None) -> WandbSettings | None:
    """W&B project/group/name/tags derived from the config; None unless logger.wandb."""
    if not run.logger.wandb:
        return None
    parts = [run.method.name, run.task["name"], run.model["name"], f"G{run.G}"] + ([f"K{k}"] if k else [])
    tags = parts + [f"seed{run.seed}"] + ([run.sweep] if run.sweep else []) + [str(t) for t in run.logger.tags]
    return WandbSettings(project=run.logger.project, entity=run.logger.entity, name=run_name(run.run_dir, run.logger.root),
                         tags=tags, group=_group(run), mode=run.logger.mode)


def trackio_settings(run: C.RunConfig) -> TrackioSettings | None:
    """trackio root/project/name/group, named and grouped as in W&B; None unless logger.trackio."""
    if not run.logger.trackio:
        return None
    return TrackioSettings(root=run.logger.root, project=run.logger.project,
                           name=run_name(run.run_dir, run.logger.root), group=_group(run))


def _group(run: C.RunConfig) -> str:
    return run.sweep or f"{run.task['name']}-{run.model['name']}"


@dataclass
class Job:
    """A validated run: everything ``train`` needs, built without touching the disk."""

    spec: C.RunConfig
    resolved: dict               # the resolved config (config.yaml; the identity a resume must match)
    k: int                       # objectives
    task: Any = None             # LLM runs: the built task
    weights: list | None = None  # LLM runs: the normalised objective weights
    args: Any = None             # LLM runs: the trl.GRPOConfig

    @property
    def is_bandit(self) -> bool:
        return self.spec.task.get("kind") == "bandit"


def _validate_bandit(spec: C.RunConfig) -> int:
    import torch

    from workbench.sim.env import objective_names
    from workbench.sim.policy import make_policy
    from workbench.sim.runner import parse_task
    from workbench.sim.train import make_optimizer

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise C.ConfigError("task=bandit runs in one process; start it with python, not torchrun.")
    if spec.train.dynamic_sampling != "off" or spec.loss.name != "trl":   # TRL settings: the bandit has its own loop
        raise C.ConfigError(f"task=bandit trains with its own GRPO update (task.clip, task.epochs; docs/bandit.md): "
                            f"train.dynamic_sampling={spec.train.dynamic_sampling} and loss={spec.loss.name} apply to "
                            "LLM tasks only; leave them at off and trl.")
    try:
        env, learner = parse_task(dict(spec.task))
        policy = make_policy(learner.policy, torch.zeros(1, env.features), env.candidates, learner.hidden)
        make_optimizer(learner.optimizer, policy.parameters(), learner.lr)
    except (ValueError, TypeError) as exc:
        raise C.ConfigError(f"task (bandit): {exc}") from None
    C.objective_weights(spec, objective_names(env.K))
    return env.K


def _check_model_for_task(model_cfg, task) -> None:
    """model=tiny is built by a supervised warm-up on a built-in task's generated demonstrations; a task
    without them (task=custom, a plug-in's) needs a model of its own."""
    if model_cfg.kind == "tiny" and not hasattr(task, "warmup_examples"):
        raise ValueError(f"model=tiny is warmed up on a built-in task's generated data, and task {task.name!r} has no "
                         "demonstrations to warm it up on. Use your own model: model=hf model.path=DIR (a folder "
                         "save_pretrained wrote; `python -m workbench.models.random_real --out DIR` makes a small "
                         "random Qwen-architecture one for trying the pipeline).")
    if model_cfg.kind == "hf" and model_cfg.path is not None:
        from workbench.models.hf import model_source

        model_source(model_cfg)  # the folder exists and holds a model, before anything is written


# What must not change under a resumed run: its data (a file edited since the run started would be trained on
# silently otherwise; task.run_record() files such as the custom task's data_split.json hold it).
DATA_IDENTITY = ("sha256", "eval_sha256", "eval_rows")


def _check_recorded_data(run_dir: str, task) -> None:
    import json

    if not hasattr(task, "run_record"):
        return
    for name, record in task.run_record().items():
        try:
            saved = json.loads((Path(run_dir) / name).read_text())
        except (OSError, ValueError):
            continue  # not recorded (an older or never-started run): nothing to compare
        changed = [k for k in DATA_IDENTITY if isinstance(saved, dict) and saved.get(k) != record.get(k)]
        if changed:
            raise C.ConfigError(f"resume=true, but the run's data changed since it started ({', '.join(changed)} in "
                                f"{run_dir}/{name} differ from {record.get('path')}): resuming would train on other "
                                "data. Restore the file, or start a new run (another run_dir, or overwrite=true).")


def validate(cfg: DictConfig) -> Job:
    """Every user-typed value checked: config groups, task, model, train.extra (as a GRPOConfig),
    method.options (a dry call, in C.load), the run_dir path. Nothing heavy is loaded and nothing is written."""
    spec = C.load(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    rundir.check_path(spec.run_dir)
    if spec.task.get("kind") == "bandit":
        return Job(spec, resolved, _validate_bandit(spec))

    from workbench import models, quiet, tasks

    quiet.silence_known_noise()  # before TRL and transformers' Trainer are imported

    try:
        task = tasks.build(spec.task)
        model_cfg = models.parse(spec.model)
        _check_model_for_task(model_cfg, task)
        from workbench.models import lora

        lora.check_targets(model_cfg)
    except (ValueError, TypeError, KeyError, FileNotFoundError) as exc:
        raise C.ConfigError(str(exc).strip("'\"")) from None
    if spec.resume:
        _check_recorded_data(spec.run_dir, task)
    weights = C.objective_weights(spec, task.objectives)
    from workbench.train.llm import eval_settings, grpo_config  # TRL + transformers: seconds to import

    args = grpo_config(spec, weights, os.path.join(spec.run_dir, "checkpoints"))
    eval_settings(spec, args.max_completion_length)
    return Job(spec, resolved, len(task.objectives), task, weights, args)


def _distributed(job: Job) -> tuple[int, int]:
    """(rank, world size); with several processes the process group is up afterwards (rank 0's run-dir
    decision is broadcast over it), initialised as the trainer will use it (the GRPOConfig's device setup)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        import torch.distributed as dist

        _ = job.args.device  # accelerate's PartialState: init_process_group with the trainer's backend
        if not dist.is_initialized():
            raise RuntimeError(f"WORLD_SIZE={world} but torch.distributed did not initialise")
        return dist.get_rank(), world
    return 0, 1


_STARTING = {"start": "starting", "resume": "resuming", "replace": "replacing (overwrite=true)"}


def execute(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """("done" | "skipped", summary). Raises ConfigError, LockBusy or Interrupted (see ``main``)."""
    job = validate(cfg)
    spec = job.spec
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    rank, world = _distributed(job) if not job.is_bandit else (0, 1)
    with graceful_stop() as stop, rundir.claim(spec, job.resolved, rank=rank, world=world) as claim:
        if claim.plan.action == "return":
            return "skipped", claim.plan.summary
        if rank == 0:
            log.info("%s %s: method=%s task=%s model=%s G=%d steps=%d%s", _STARTING[claim.plan.action], spec.run_dir,
                     spec.method.name, spec.task["name"], spec.model["name"], spec.G, spec.steps,
                     f" (from step {claim.plan.from_step})" if claim.plan.from_step else "")
        if claim.lock is not None:
            claim.lock.on_lost = lambda: stop.request("another process took over the run's lock", save=False)
        config_yaml = OmegaConf.to_yaml(OmegaConf.create(job.resolved))
        with RunLogger(claim.store, config=job.resolved, wandb=wandb_settings(spec, job.k),
                       trackio=trackio_settings(spec), config_yaml=config_yaml, lock=claim.lock,
                       start_step=claim.plan.from_step) as logger:
            stop.check(logger.last_step)  # a signal while the directory was being claimed
            if job.is_bandit:
                from workbench import sim

                summary = sim.run_bandit(cfg, logger, check_stop=stop.check)
            else:
                from workbench.train.llm import train_llm

                summary = train_llm(spec, job.task, job.weights, logger, job.args,
                                    resume_from=claim.plan.resume_from, stop=stop)
            logger.finish(summary)
    return "done", summary


def run(cfg: DictConfig) -> dict[str, Any]:
    """Validate ``cfg``, claim its run directory, train (or dispatch to the bandit simulator); the summary."""
    return execute(cfg)[1]


# A write that fails for these reasons is the machine's, not the code's: the run ends with one line naming the file.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def write_failure(exc: BaseException) -> str | None:
    """"cannot write FILE: REASON ..." when ``exc`` (or an exception it was raised from) is a failed write:
    an OSError with a disk errno, or torch.save's RuntimeError on a full disk; else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
            where = f" {exc.filename}" if exc.filename else ""
            return (f"cannot write{where}: {exc.strerror or exc}. Free space or fix permissions, then resume=true "
                    f"continues the run from its last checkpoint.")
        if isinstance(exc, RuntimeError) and ("file write failed" in str(exc) or "No space left" in str(exc)):
            return (f"cannot write a checkpoint: {str(exc).splitlines()[0]}. Free space, then resume=true continues "
                    f"the run from its last complete checkpoint.")
        exc = exc.__cause__ or exc.__context__
    return None


# Set when a signal stopped a job of a multirun whose jobs run in this very process (Hydra's basic launcher):
# the jobs after it return "interrupted" without starting. The local launcher's jobs run in processes of
# their own, and it stops the sweep itself.
_SWEEP_STOPPED: str | None = None


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Hydra entry. In a multirun a job that cannot run returns an outcome instead of raising (busy:
    another live process writes its run; interrupted: a signal stopped it; failed: anything else), so
    the other jobs keep going and workbench.sweep's report counts it. A single run prints a bad config or
    a busy run_dir as one error message (exit 2 / 1); stopped by a signal it exits with 128 + the signal
    number (130 for Ctrl-C, 143 for SIGTERM), its status interrupted."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from workbench import distributed, sweep

    distributed.setup_launch()  # SLURM tasks / DVAO_ACCELERATE_CONFIG: torch.distributed and DeepSpeed variables
    global _SWEEP_STOPPED
    run_dir = str(cfg.run_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun and _SWEEP_STOPPED:  # Hydra's basic launcher runs the next job in this process: do not start it
        return {"outcome": sweep.INTERRUPTED, "run_dir": run_dir,
                "error": f"not started: the sweep was stopped ({_SWEEP_STOPPED})"}
    try:
        outcome, summary = execute(cfg)
    except Interrupted as exc:
        log.error("run %s interrupted: %s (resume=true continues it)", run_dir, exc.reason)
        if multirun:
            if exc.signum is not None:  # Ctrl-C / SIGTERM stops the sweep, not only this job
                _SWEEP_STOPPED = exc.reason
            return {"outcome": sweep.INTERRUPTED, "run_dir": run_dir, "error": exc.reason}
        raise SystemExit(exc.exit_code) from None
    except (C.ConfigError, LockBusy) as exc:
        if not multirun:  # the message says what to type; a traceback would only bury it
            log.error("%s", exc)
            raise SystemExit(2 if isinstance(exc, C.ConfigError) else 1) from None
        log.error("run %s not started: %s", run_dir, exc)
        return {"outcome": sweep.BUSY if isinstance(exc, LockBusy) else sweep.FAILED, "run_dir": run_dir,
                "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:
        problem = write_failure(exc)
        if problem is not None:  # one line that says which file and why, not a traceback through the trainer
            log.error("run %s failed: %s", run_dir, problem)
            if not multirun:
                raise SystemExit(1) from None
            return {"outcome": sweep.FAILED, "run_dir": run_dir, "error": problem}
        if not multirun:
            raise
        log.exception("run %s failed", run_dir)
        return {"outcome": sweep.FAILED, "run_dir": run_dir, "error": f"{type(exc).__name__}: {exc}"}
    final = "  ".join(f"{k} {v:.3f}" for k, v in summary.items() if k.startswith("eval/") and isinstance(v, float))
    log.info("%s %s: %s", "skipped (already done)" if outcome == "skipped" else "done", run_dir, final)
    return {"outcome": sweep.SKIPPED if outcome == "skipped" else sweep.DONE, "run_dir": run_dir, "error": None,
            "summary": summary}


if __name__ == "__main__":
    main()
