"""Typed schema and validation for `python -m workbench.run`.

The YAML under conf/ is what a user edits; this module is what the code trusts. ``load(cfg)``
turns a composed Hydra config into a ``RunConfig`` and checks every value a user types (method,
G, steps, batch size, logger) *before* anything heavy is imported or loaded; ``objective_weights``
checks ``weights`` against the task's objectives once the task is built (still before the model).
Each error names the key, the bad value and how to fix it.

The ``task`` and ``model`` groups belong to workbench.tasks / workbench.models, which validate
their own options; here they only need a ``name`` (and the task a ``kind``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
TASK_KINDS = ("llm", "bandit")
LOGGERS = ("wandb", "trackio")  # logger backends (conf/logger/<name>.yaml switches one on; none: neither)
WANDB_MODES = (None, "online", "offline", "disabled")


class ConfigError(ValueError):
    """A config value that cannot run; the message says which key and how to fix it."""


@dataclass
class MethodConfig:
    name: str                                  # the method's one name: conf file, W&B tag, plot label
    estimator: str                             # workbench.advantages registry key that computes A
    options: dict = field(default_factory=dict)  # keyword options of the estimator (std, eps, scale, ...)
    only_objective: int | None = None          # train on this objective alone (weight 1, the rest 0)


@dataclass
class TrainConfig:
    prompts_per_step: int = 4          # prompts per optimiser step; completions = prompts_per_step * G
    batch_size: int | None = None      # completions per optimiser step (all devices); null = prompts_per_step * G
    learning_rate: float | None = None  # null: the model's learning_rate
    max_new_tokens: int | None = None  # null: the model's max_completion_length
    temperature: float | None = None   # rollout sampling temperature; null: the model's temperature
    beta: float = 0.0                  # KL coefficient against the reference policy (0: no reference model)
    save_every: int = 20               # checkpoint every N steps (resume=true restarts from the last one)
    save_limit: int = 2                # checkpoints kept on disk
    extra: dict = field(default_factory=dict)  # any other GRPOConfig argument, passed through last


@dataclass
class EvalConfig:
    every: int = 20                    # held-out evaluation at step 0 and every N steps (0: only at the end)
    batch_size: int = 64               # rows (prompt x sample) per generate() call (one seeded chunk; split over ranks)
    # What is sampled (prompts, samples per prompt, temperature, top_p) is the task's `eval` options.


@dataclass
class LoggerConfig:
    wandb: bool = False                # log to W&B (logger=wandb); the local run store is always written
    trackio: bool = False              # log to trackio (logger=trackio), data in <root>/.trackio
    root: str = "runs"                 # the runs root: run names in every backend are run_dir relative to it
    project: str = "dvao-workbench"    # W&B and trackio project
    entity: str | None = None          # W&B entity (team or user); null: the account default
    mode: str | None = None            # online | offline | disabled; null: online iff WANDB_API_KEY is set
    tags: list = field(default_factory=list)  # extra W&B tags on top of the derived ones

    @property
    def backends(self) -> list[str]:
        """The backends switched on, in LOGGERS order (empty for logger=none)."""
        return [b for b in LOGGERS if getattr(self, b) is True]


@dataclass
class RunConfig:
    G: int                             # group size: completions per prompt
    seed: int                          # seeds python, numpy, torch and the sampler
    steps: int                         # optimiser steps
    weights: list | None               # base objective weights (task objective order); default: task.default_weights; null: equal
    run_dir: str                       # run directory (workbench/store.py layout)
    resume: bool                       # continue the run in run_dir (identity checked) or return it if done
    overwrite: bool                    # replace the run in run_dir (only a run directory the workbench made)
    sweep: str | None                  # sweep name: W&B group and a summary axis
    threads: int | None                # torch CPU threads; null: torch's default
    method: MethodConfig
    task: dict                         # owned by workbench.tasks (needs name, kind)
    model: dict                        # owned by workbench.models (needs name)
    train: TrainConfig
    eval: EvalConfig
    logger: LoggerConfig

    @property
    def completions_per_step(self) -> int:
        return self.train.batch_size if self.train.batch_size is not None else self.train.prompts_per_step * self.G


def choices(group: str) -> list[str]:
    """The option names of a config group (the yaml files in conf/<group>/), sorted."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _build(cls, section: str, values: Any):
    """Dataclass ``cls`` from a mapping; an unknown key raises naming the valid ones."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"`{section}` must be a mapping of keys to values, got {values!r}.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                          f"valid keys of `{section}`: {', '.join(sorted(known))}.")
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"`{section}`: {exc}") from None


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def load(cfg: DictConfig | dict) -> RunConfig:
    """Validate a composed config (no model or data touched) and return the typed ``RunConfig``."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    raw.pop("hydra", None)
    for group in ("method", "task", "model"):
        if not isinstance(raw.get(group), dict) or "name" not in raw[group]:
            raise ConfigError(f"`{group}` must be a config group with a `name`; choose {group}=<one of "
                              f"{', '.join(choices(group))}>.")
    method = _build(MethodConfig, "method", raw.pop("method"))
    top = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(top))}.")
    missing = sorted(top - set(raw) - {"method", "train", "eval", "logger"})
    if missing:
        raise ConfigError(f"missing top-level key(s) {', '.join(missing)} (conf/config.yaml sets them).")
    run = RunConfig(
        **{k: raw[k] for k in top - {"method", "train", "eval", "logger"}},
        method=method,
        train=_build(TrainConfig, "train", raw.get("train")),
        eval=_build(EvalConfig, "eval", raw.get("eval")),
        logger=_build(LoggerConfig, "logger", raw.get("logger")),
    )
    _check(run)
    return run


def _check(run: RunConfig) -> None:
    from workbench import advantages  # light: torch only

    method_names = choices("method")
    if method_names and run.method.name not in method_names:
        raise ConfigError(f"unknown method {run.method.name!r}; valid values: {', '.join(method_names)}.")
    if run.method.estimator not in advantages.names():
        raise ConfigError(f"method.estimator={run.method.estimator!r} is not a registered estimator; "
                          f"valid values: {', '.join(advantages.names())}.")
    _check_estimator_options(run.method)
    for group in ("task", "model"):
        names = choices(group)
        if names and run.__dict__[group]["name"] not in names:
            raise ConfigError(f"unknown {group} {run.__dict__[group]['name']!r}; valid values: {', '.join(names)}.")
    kind = run.task.get("kind", "llm")
    if kind not in TASK_KINDS:
        raise ConfigError(f"task.kind={kind!r}; valid values: {', '.join(TASK_KINDS)}.")
    if isinstance(run.G, bool) or not isinstance(run.G, int) or run.G < 2:
        raise ConfigError(f"G={run.G!r}: the group size must be an integer >= 2 (GRPO normalises within groups).")
    _positive_int("steps", run.steps)
    for key in ("resume", "overwrite"):
        if not isinstance(getattr(run, key), bool):
            raise ConfigError(f"{key}={getattr(run, key)!r} must be true or false.")
    if run.resume and run.overwrite:
        raise ConfigError("resume=true and overwrite=true contradict each other: resume=true continues the run in "
                          "run_dir, overwrite=true replaces it; choose one.")
    _positive_int("seed", run.seed, minimum=0)
    if run.threads is not None:
        _positive_int("threads", run.threads)
    _positive_int("train.prompts_per_step", run.train.prompts_per_step)
    bs = run.completions_per_step
    if isinstance(bs, bool) or not isinstance(bs, int) or bs < run.G or bs % run.G:
        n = bs // run.G if isinstance(bs, int) and not isinstance(bs, bool) and bs > 0 else 1
        lower, upper = max(n, 1) * run.G, (n + 1) * run.G
        raise ConfigError(f"train.batch_size={bs!r} is not a positive multiple of G={run.G}: every prompt needs a "
                          f"whole group. Use e.g. train.batch_size={lower} or {upper}, or leave it null "
                          f"(= train.prompts_per_step * G).")
    _positive_int("train.save_every", run.train.save_every)
    _positive_int("train.save_limit", run.train.save_limit)
    _positive_int("eval.every", run.eval.every, minimum=0)
    _positive_int("eval.batch_size", run.eval.batch_size)
    for key in ("learning_rate", "temperature"):
        value = getattr(run.train, key)
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError(f"train.{key}={value!r} must be > 0 (or null: the model's value).")
    if run.train.max_new_tokens is not None:
        _positive_int("train.max_new_tokens", run.train.max_new_tokens)
    if not isinstance(run.train.beta, (int, float)) or run.train.beta < 0:
        raise ConfigError(f"train.beta={run.train.beta!r} must be >= 0.")
    _check_logger(run)
    if run.weights is not None and not isinstance(run.weights, list):
        raise ConfigError(f"weights={run.weights!r} must be null (equal weights) or a list like [0.3, 0.7].")


def _check_logger(run: RunConfig) -> None:
    for backend in LOGGERS:
        if not isinstance(getattr(run.logger, backend), bool):
            raise ConfigError(f"logger.{backend}={getattr(run.logger, backend)!r} must be true or false; choose the "
                              f"backends with logger=wandb, logger=trackio, logger=[wandb,trackio] or logger=none.")
    if run.logger.mode not in WANDB_MODES:
        raise ConfigError(f"logger.mode={run.logger.mode!r}; valid values: null, online, offline, disabled.")
    if run.logger.trackio:
        from workbench.logger import trackio_problem

        problem = trackio_problem(run.logger.root, run.run_dir, run.logger.project)
        if problem:
            raise ConfigError(problem)


def _check_estimator_options(method: MethodConfig) -> None:
    """Call the estimator once on a 1 x 2 x 1 batch, so a misspelt or out-of-range option in
    ``method.options`` fails here, before any model is loaded, with the estimator's own message."""
    import torch

    from workbench import advantages

    if not isinstance(method.options, dict) or "state" in method.options:
        raise ConfigError(f"method.options={method.options!r} must be a mapping of the estimator's keyword options "
                          "(state is carried by the trainer, never configured).")
    try:
        advantages.get(method.estimator)(torch.tensor([[[0.0], [1.0]]]), [1.0], **method.options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"method.options={method.options!r} do not fit estimator {method.estimator!r}: {exc} "
                          f"(see docs/estimators.md for its options).") from None


def objective_weights(run: RunConfig, objectives: list[str]) -> list[float]:
    """The base weights the estimator uses, normalised to sum to 1 (the papers' convex combination).

    ``weights`` null gives 1/K each; a list must have one entry >= 0 per objective, in the task's
    order, not all 0. ``method.only_objective`` (single-reward GRPO) overrides them with a one-hot.
    """
    k = len(objectives)
    if run.method.only_objective is not None:
        i = run.method.only_objective
        if not isinstance(i, int) or not 0 <= i < k:
            raise ConfigError(f"method.only_objective={i!r} must index one of the task's objectives {objectives}.")
        return [1.0 if j == i else 0.0 for j in range(k)]
    if run.weights is None:
        return [1.0 / k] * k
    w = run.weights
    if len(w) != k:
        origin = " (task.default_weights)" if w == run.task.get("default_weights") else ""
        raise ConfigError(f"weights={w}{origin} has {len(w)} entries but task {run.task['name']!r} has {k} objectives "
                          f"{objectives}: give one weight per objective in that order, e.g. weights=[{', '.join(['0.5'] * k)}], "
                          f"or weights=null for equal weights.")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in w):
        raise ConfigError(f"weights={w}: every weight must be a finite number >= 0.")
    total = float(sum(w))
    if total <= 0:
        raise ConfigError(f"weights={w} are all 0: at least one objective needs a positive weight.")
    return [float(x) / total for x in w]


def _weights_slug(weights) -> str:
    """``null`` -> "equal", [0.3, 0.7] -> "0.3-0.7" (for run directory names)."""
    if weights is None:
        return "equal"
    if isinstance(weights, (list, tuple, ListConfig)):
        return "-".join(f"{float(x):g}" for x in weights)
    return str(weights)


def launch_dir() -> str:
    """Hydra's output folder for a single run (conf/config.yaml ``hydra.run.dir``): date/time, except under
    torchrun, where every rank must share one folder: ``torchrun/<rendezvous id>`` (the same on all ranks)."""
    import os
    import time

    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    return f"torchrun/{run_id}" if run_id else time.strftime("%Y-%m-%d/%H-%M-%S")


def register_resolvers() -> None:
    """``${wb.weights:${weights}}``, ``${wb.or:${sweep},adhoc}`` (run_dir), ``${wb.launch_dir:}`` (hydra.run.dir)
    and ``${wb.rank_suffix:}`` (the job log's name, workbench/distributed.py)."""
    from workbench import distributed

    if not OmegaConf.has_resolver("wb.launch_dir"):
        OmegaConf.register_new_resolver("wb.launch_dir", launch_dir, use_cache=True)
    if not OmegaConf.has_resolver("wb.weights"):
        OmegaConf.register_new_resolver("wb.weights", _weights_slug)
    if not OmegaConf.has_resolver("wb.or"):
        OmegaConf.register_new_resolver("wb.or", lambda value, default: default if value in (None, "") else value)
    if not OmegaConf.has_resolver("wb.rank_suffix"):
        OmegaConf.register_new_resolver("wb.rank_suffix", distributed.rank_suffix)


register_resolvers()
