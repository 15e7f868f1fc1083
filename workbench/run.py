"""`python -m workbench.run [method=dvao] [task=math] [model=tiny] [G=8] [steps=40] [resume=true] ...`

A thin Hydra entry point over conf/: ``main`` composes the config and calls ``run(cfg)``, which
validates everything a user typed before any model is loaded, prepares the run directory
(workbench/store.py layout), trains, evaluates and returns the run's summary.

Run directories: a fresh run (``resume=false``) in a directory holding an earlier run starts that
run over; ``resume=true`` continues from its last checkpoint, or returns the stored summary when the
run is already done (so re-running a sweep skips finished runs).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import hydra
import yaml
from omegaconf import DictConfig, OmegaConf

from workbench import store
from workbench.logger import RunLogger, WandbSettings
from workbench.train import config as C

log = logging.getLogger(__name__)
IDENTITY = ("method.name", "task.name", "model.name", "G", "seed", "weights")  # what resume=true must match


def _select(tree: dict, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def finished_summary(run_dir: str, steps: int) -> dict[str, Any] | None:
    """The summary of a run in ``run_dir`` that finished at least ``steps`` steps, else None
    (a done run asked for more steps continues from its last checkpoint)."""
    if not store.is_done(run_dir):
        return None
    summary = json.loads((Path(run_dir) / store.SUMMARY).read_text())
    return summary if (summary.get("step") or 0) >= steps else None


def wandb_settings(run: C.RunConfig, k: int | None) -> WandbSettings | None:
    """W&B project/group/name/tags derived from the config; None when logger=none."""
    if run.logger.name == "none":
        return None
    parts = [run.method.name, run.task["name"], run.model["name"], f"G{run.G}"] + ([f"K{k}"] if k else [])
    name = "-".join(parts + [f"w{C._weights_slug(run.weights)}", f"s{run.seed}"])
    tags = parts + [f"seed{run.seed}"] + ([run.sweep] if run.sweep else []) + [str(t) for t in run.logger.tags]
    return WandbSettings(project=run.logger.project, entity=run.logger.entity, name=name, tags=tags,
                         group=run.sweep or f"{run.task['name']}-{run.model['name']}", mode=run.logger.mode)


def last_checkpoint(ckpt_dir: Path) -> tuple[str | None, int]:
    """The newest complete ``checkpoint-<step>`` directory (transformers' layout) and its step."""
    found = [(int(p.name.rsplit("-", 1)[1]), p) for p in ckpt_dir.glob("checkpoint-*")
             if p.name.rsplit("-", 1)[1].isdigit() and (p / "trainer_state.json").exists()]
    if not found:
        return None, 0
    step, path = max(found)
    return str(path), step


def prepare_run_dir(run: C.RunConfig, resolved: dict) -> str | None:
    """Clear or check ``run.run_dir``; return the checkpoint to resume from (None: start at step 0)."""
    path = Path(run.run_dir)
    saved = path / store.CONFIG
    if not run.resume:
        if path.exists() and any(path.iterdir()):
            if not (saved.exists() or (path / store.STATUS).exists()):
                raise C.ConfigError(f"run_dir={str(path)!r} exists and is not a run directory; choose another run_dir.")
            log.warning("run_dir %s holds an earlier run: starting it over (resume=true would continue it)", path)
            shutil.rmtree(path)
        return None
    if saved.exists():
        before = yaml.safe_load(saved.read_text()) or {}
        changed = [k for k in IDENTITY if _select(before, k) != _select(resolved, k)]
        if changed:
            raise C.ConfigError(f"resume=true but run_dir={str(path)!r} holds a run with different "
                                + ", ".join(f"{k} ({_select(before, k)!r} there, {_select(resolved, k)!r} now)"
                                            for k in changed) + ". Use another run_dir or resume=false.")
    last, step = last_checkpoint(path / store.CHECKPOINTS)
    if path.exists():
        store.RunStore(path).truncate_after(step)  # the steps after the checkpoint are trained again
    log.info("resuming %s from %s", path, last or "the start (no checkpoint yet)")
    return last


def run(cfg: DictConfig) -> dict[str, Any]:
    """Validate ``cfg``, train (or dispatch to the bandit simulator) and return the summary dict."""
    spec = C.load(cfg)  # every user-typed value checked here, before any model or data is touched
    if spec.threads:
        import torch

        torch.set_num_threads(spec.threads)
    done = finished_summary(spec.run_dir, spec.steps) if spec.resume else None
    if done is not None:
        log.info("%s is already done: returning its summary", spec.run_dir)
        return done
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved.pop("hydra", None)
    config_yaml = OmegaConf.to_yaml(OmegaConf.create(resolved))

    if spec.task.get("kind") == "bandit":
        from workbench import sim  # the simulator owns its objectives, logging cadence and summary

        prepare_run_dir(spec, resolved)
        k = spec.task.get("K") or len(spec.task.get("objectives") or []) or None
        with RunLogger(spec.run_dir, config=resolved, wandb=wandb_settings(spec, k), config_yaml=config_yaml) as logger:
            summary = sim.run_bandit(cfg, logger)
            logger.finish(summary)
        return summary

    from workbench import tasks

    task = tasks.build(spec.task)
    weights = C.objective_weights(spec, task.objectives)  # weights vs objectives: still before the model
    from workbench.train.llm import train_llm  # TRL + transformers: seconds to import, so only now

    resume_from = prepare_run_dir(spec, resolved)
    settings = wandb_settings(spec, len(task.objectives))
    with RunLogger(spec.run_dir, config=resolved, wandb=settings, config_yaml=config_yaml) as logger:
        summary = train_llm(spec, task, weights, logger, resume_from=resume_from)
        logger.finish(summary)
    return summary


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict[str, Any]:
    """Hydra entry. In a multirun a failing job returns a ``failed`` outcome instead of raising, so
    the other jobs keep going and workbench.sweep's report counts it (see workbench/sweep.py)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from workbench import distributed, sweep

    distributed.setup_launch()  # SLURM tasks / DVAO_ACCELERATE_CONFIG: torch.distributed and DeepSpeed variables
    run_dir = str(cfg.run_dir)
    try:
        skipped = bool(cfg.resume) and finished_summary(run_dir, int(cfg.steps)) is not None
        summary = run(cfg)
    except Exception as exc:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            raise
        log.exception("run %s failed", run_dir)
        return {"outcome": sweep.FAILED, "run_dir": run_dir, "error": f"{type(exc).__name__}: {exc}"}
    final = "  ".join(f"{k} {v:.3f}" for k, v in summary.items() if k.startswith("eval/") and isinstance(v, float))
    log.info("%s %s: %s", "skipped (already done)" if skipped else "done", run_dir, final)
    return {"outcome": sweep.SKIPPED if skipped else sweep.DONE, "run_dir": run_dir, "error": None, "summary": summary}


if __name__ == "__main__":
    main()
