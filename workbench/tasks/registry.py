"""The task registry: the only way the trainer gets a task (``build(cfg.task)``)."""
from __future__ import annotations

from typing import Any, Callable

from workbench.tasks.base import Task
from workbench.tasks.config import to_dict
from workbench.tasks.noise import NoiseSpec, NoisyTask

_BUILDERS: dict[str, Callable[[dict], Task]] = {}


def register(name: str):
    """Decorator adding a task builder ``fn(task_cfg: dict) -> Task``; a duplicate name raises."""

    def wrap(fn):
        if name in _BUILDERS:
            raise ValueError(f"task {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    """Registered task names, sorted (the LLM tasks; the bandit simulator lives elsewhere)."""
    return sorted(_BUILDERS)


def build(task_cfg: Any) -> Task:
    """The task described by the Hydra ``task`` node (or a dict): dispatches on its ``builder`` (the
    registered name; default: its ``name``, which otherwise only labels the task)."""
    cfg = to_dict(task_cfg)
    builder = cfg.pop("builder", None) or cfg.get("name")  # `builder` lets a task keep its own label as `name`
    if builder not in _BUILDERS:
        raise KeyError(f"unknown task {builder!r}; registered tasks: {', '.join(names())} (your own: register a "
                       "builder with workbench.tasks.register in a module listed in `plugins`, or use task=custom)")
    noise = cfg.pop("noise", None)  # task-agnostic: see workbench/tasks/noise.py
    cfg.pop("default_weights", None)  # the run's `weights` when none are given (conf/config.yaml), not a task option
    task = _BUILDERS[builder](cfg)
    spec = NoiseSpec.parse(noise, task.objectives)
    return NoisyTask(task, spec) if spec.active else task
