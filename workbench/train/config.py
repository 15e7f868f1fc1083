"""Typed schema and validation for `python -m workbench.run`.

The YAML under conf/ is what a user edits; this module is what the code trusts. ``load(cfg)``
turns a composed Hydra config into a ``RunConfig`` and checks every value a user types (method,
G, steps, batch size, logger) *before* anything heavy is imported or loaded; ``objective_weights``
checks ``weights`` against the task's objectives once the task is built (still before the model).
Each error names the key, the bad value and how to fix it.

The ``task`` and ``model`` groups belong to workbench.tasks / workbench.models, which validate
their own options; here they only need a ``name`` (and the task a ``kind``).

Validation trusts what Hydra composed and what the registries hold, never a listing of the package's
own conf/ folder: a user's ``--config-dir`` or ``hydra.searchpath`` options (Hydra itself refuses an
unknown option, listing the package's and the user's) and plug-in estimators and tasks (``plugins``,
imported first) are as valid as the built-in ones.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
TASK_KINDS = ("llm", "bandit")
LOGGERS = ("wandb", "trackio")  # logger backends (conf/logger/<name>.yaml switches one on; none: neither)
WANDB_MODES = (None, "online", "offline", "disabled")
# A method, task or model name is part of the run directory's name and of metric/W&B labels.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


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
    dynamic_sampling: str = "off"      # off | all_constant | top_constant (DYNAMIC_SAMPLING; docs/training.md)
    dynamic_sampling_rounds: int = 4   # extra generation rounds allowed per batch to replace dropped groups


DYNAMIC_SAMPLING = ("off", "all_constant", "top_constant")  # workbench/train/dynamic.py


@dataclass
class LossConfig:
    """The loss settings group (conf/loss/<name>.yaml): GRPOConfig values; null keeps TRL's default (or train.extra's)."""
    name: str = "trl"                          # the setting's label: run directory, summary axis, plots
    loss_type: str | None = None               # GRPOConfig.loss_type (TRL 1.16 default: dapo)
    importance_sampling_level: str | None = None  # token | sequence (GSPO)
    epsilon: float | None = None               # lower clip range (TRL default 0.2)
    epsilon_high: float | None = None          # upper clip range (DAPO's clip-higher: 0.28); null = epsilon
    num_iterations: int | None = None          # optimiser passes per generated batch (TRL default 1)

    def grpo_args(self) -> dict:
        """The GRPOConfig arguments this setting fixes (its non-null keys)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "name" and getattr(self, f.name) is not None}


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
    plugins: list                      # modules / .py files imported before validation (workbench/plugins.py)
    threads: int | None                # torch CPU threads; null: torch's default
    method: MethodConfig
    task: dict                         # owned by workbench.tasks (needs name, kind)
    model: dict                        # owned by workbench.models (needs name)
    train: TrainConfig
    eval: EvalConfig
    logger: LoggerConfig
    loss: LossConfig = field(default_factory=LossConfig)

    @property
    def completions_per_step(self) -> int:
        return self.train.batch_size if self.train.batch_size is not None else self.train.prompts_per_step * self.G


def choices(group: str) -> list[str]:
    """The package's own options of a config group (the yaml files in conf/<group>/), sorted. Only for
    messages and docs: a user's config dir may add options, so validation never checks names against it."""
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


# Sizes beyond these cannot work on any machine this runs on, or overflow what they feed (numpy's seed is 32-bit);
# refused at validation, before the run directory exists, rather than after minutes of growing memory.
MAX_G = 1024                      # completions per prompt
MAX_COMPLETIONS_PER_STEP = 65536  # prompts_per_step * G (or train.batch_size)
MAX_STEPS = 10**8
MAX_SEED = 2**32 - 1


def _positive_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={value} is above the limit {maximum}{why}.")


def load(cfg: DictConfig | dict) -> RunConfig:
    """Validate a composed config (no model or data touched) and return the typed ``RunConfig``."""
    if isinstance(cfg, DictConfig):
        _check_estimator_set(cfg)
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    raw.pop("hydra", None)
    load_plugins(raw.get("plugins"))
    _check_method_label(raw.get("method"))
    for group in ("method", "task", "model"):
        if not isinstance(raw.get(group), dict) or "name" not in raw[group]:
            raise ConfigError(f"`{group}` must be a config group with a `name`; choose {group}=<one of "
                              f"{', '.join(choices(group))}>.")
    method = _build(MethodConfig, "method", raw.pop("method"))
    top = {f.name for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(top))}.")
    raw.setdefault("plugins", [])
    missing = sorted(top - set(raw) - {"method", "train", "eval", "logger", "loss"})
    if missing:
        raise ConfigError(f"missing top-level key(s) {', '.join(missing)} (conf/config.yaml sets them).")
    run = RunConfig(
        **{k: raw[k] for k in top - {"method", "train", "eval", "logger", "loss"}},
        method=method,
        loss=_build(LossConfig, "loss", raw.get("loss")),
        train=_build(TrainConfig, "train", raw.get("train")),
        eval=_build(EvalConfig, "eval", raw.get("eval")),
        logger=_build(LoggerConfig, "logger", raw.get("logger")),
    )
    _check(run)
    return run


def load_plugins(entries: Any) -> None:
    """Import ``plugins`` (workbench/plugins.py) so that the estimators and tasks they register are valid names."""
    from workbench import plugins

    try:
        plugins.load(entries)
    except plugins.PluginError as exc:
        raise ConfigError(str(exc)) from None


def _hydra_choices_and_overrides() -> tuple[dict, list[str]]:
    """The job's config-group choices and command-line overrides, when running under Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            hc = HydraConfig.get()
            return dict(hc.runtime.choices), list(hc.overrides.task)
    except Exception:  # noqa: BLE001 - outside a Hydra job (tests, a direct call) there is nothing to read
        pass
    return {}, []


def _check_estimator_set(cfg: DictConfig) -> None:
    """``method=custom`` (or any method yaml) needs ``method.estimator``."""
    from workbench import advantages

    method = cfg.get("method")
    if isinstance(method, DictConfig) and (OmegaConf.is_missing(method, "estimator") or method.get("estimator") is None):
        raise ConfigError("method.estimator is not set: method=custom runs any registered estimator, e.g. "
                          f"method=custom method.estimator=NAME; registered: {', '.join(advantages.names())} "
                          "(your own: register it in a module listed in `plugins`).")


def _check_method_label(method: Any) -> None:
    """An estimator swapped into a named method from the command line (``method=rc method.estimator=mine``)
    would carry the method's name, not the estimator's, into the run directory, W&B and every plot."""
    from workbench import advantages

    if not isinstance(method, dict) or method.get("estimator") not in advantages.names():
        return  # no method, or an unregistered estimator: _check says so
    choices_, overrides = _hydra_choices_and_overrides()
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    chosen, estimator = choices_.get("method"), method["estimator"]
    if "method.estimator" in keys and "method.name" not in keys and chosen not in (None, "custom"):
        raise ConfigError(f"method={chosen} with method.estimator={estimator}: the run would be labelled {chosen!r} "
                          f"everywhere. Use method=custom method.estimator={estimator} (the run is then named "
                          f"{estimator!r}), or also set method.name=NAME.")


def _check(run: RunConfig) -> None:
    from workbench import advantages  # light: torch only

    if run.method.estimator not in advantages.names():
        raise ConfigError(f"method.estimator={run.method.estimator!r} is not a registered estimator; registered: "
                          f"{', '.join(advantages.names())} (your own: register it in a module listed in `plugins`, "
                          "docs/your-experiment.md).")
    _check_estimator_options(run.method)
    for group in ("method", "task", "model"):
        name = run.method.name if group == "method" else run.__dict__[group]["name"]
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(f"{group}.name={name!r}: a name labels the run directory and every plot; use letters, "
                              "digits and . _ + - (e.g. my-model-v2).")
    kind = run.task.get("kind", "llm")
    if kind not in TASK_KINDS:
        raise ConfigError(f"task.kind={kind!r}; valid values: {', '.join(TASK_KINDS)}.")
    if isinstance(run.G, bool) or not isinstance(run.G, int) or run.G < 2:
        raise ConfigError(f"G={run.G!r}: the group size must be an integer >= 2 (GRPO normalises within groups).")
    _positive_int("G", run.G, 2, MAX_G, " completions per prompt (the papers use 4-16; memory grows with G)")
    _positive_int("steps", run.steps, maximum=MAX_STEPS)
    for key in ("resume", "overwrite"):
        if not isinstance(getattr(run, key), bool):
            raise ConfigError(f"{key}={getattr(run, key)!r} must be true or false.")
    if run.resume and run.overwrite:
        raise ConfigError("resume=true and overwrite=true contradict each other: resume=true continues the run in "
                          "run_dir, overwrite=true replaces it; choose one.")
    _positive_int("seed", run.seed, 0, MAX_SEED, " (numpy seeds are 32-bit)")
    if run.threads is not None:
        import os

        _positive_int("threads", run.threads, 1, os.cpu_count() or 1, f": this machine has {os.cpu_count()} CPU cores")
    _positive_int("train.prompts_per_step", run.train.prompts_per_step, maximum=MAX_COMPLETIONS_PER_STEP)
    bs = run.completions_per_step
    if isinstance(bs, int) and not isinstance(bs, bool) and bs > MAX_COMPLETIONS_PER_STEP:
        raise ConfigError(f"{bs} completions per step (train.prompts_per_step * G or train.batch_size) is above the "
                          f"limit {MAX_COMPLETIONS_PER_STEP}; use fewer prompts per step or a smaller G.")
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
    _check_dynamic_sampling(run.train)
    if not isinstance(run.loss.name, str) or not NAME.match(run.loss.name):
        raise ConfigError(f"loss.name={run.loss.name!r}: the loss setting's label; use letters, digits and . _ + -.")
    if run.weights is not None and not isinstance(run.weights, (list, dict)):
        raise ConfigError(f"weights={run.weights!r} must be null (equal weights), a list like [0.3, 0.7] or a schedule "
                          "like {schedule: linear, start: [0.9, 0.1], end: [0.1, 0.9]} (docs/training.md#weight-schedules).")


def _check_dynamic_sampling(train: TrainConfig) -> None:
    if train.dynamic_sampling is False:  # YAML 1.1 reads an unquoted `off` as false
        train.dynamic_sampling = "off"
    if train.dynamic_sampling not in DYNAMIC_SAMPLING:
        raise ConfigError(f"train.dynamic_sampling={train.dynamic_sampling!r}; valid values: {', '.join(DYNAMIC_SAMPLING)} "
                          "(all_constant drops groups in which every objective is constant, top_constant those in which "
                          "the highest-weight objective is).")
    _positive_int("train.dynamic_sampling_rounds", train.dynamic_sampling_rounds, minimum=0)


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
        result = advantages.get(method.estimator)(torch.tensor([[[0.0], [1.0]]]), [1.0], **method.options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"method.options={method.options!r} do not fit estimator {method.estimator!r}: {exc} "
                          f"(see docs/estimators.md for its options).") from None
    except Exception as exc:  # noqa: BLE001 - a plug-in estimator's own bug: say whose, before any run starts
        raise ConfigError(f"estimator {method.estimator!r} raised {type(exc).__name__}: {exc} on a 1 x 2 x 1 rewards "
                          "tensor [[[0.], [1.]]] with weights [1.] (docs/your-experiment.md: the estimator contract).") \
            from None
    problem = _result_problem(result)
    if problem:
        raise ConfigError(f"estimator {method.estimator!r} returned {problem} for a 1 x 2 x 1 rewards tensor; it must "
                          "return workbench.advantages.AdvantageResult with advantages (B, G) finite and group_mean, "
                          "group_std, weights (B, K) (docs/your-experiment.md: the estimator contract).")


def _result_problem(result: Any) -> str | None:
    """What is wrong with an estimator's result on the 1 x 2 x 1 probe batch, or None."""
    import torch

    from workbench import advantages

    if not isinstance(result, advantages.AdvantageResult):
        return f"a {type(result).__name__}, not an AdvantageResult"
    shapes = {"advantages": (1, 2), "group_mean": (1, 1), "group_std": (1, 1), "weights": (1, 1)}
    for name, shape in shapes.items():
        value = getattr(result, name)
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            return f"{name} of shape {tuple(getattr(value, 'shape', ())) or type(value).__name__} (expected {shape})"
    if not torch.isfinite(result.advantages).all():
        return f"non-finite advantages {result.advantages.tolist()}"
    return None


def objective_weights(run: RunConfig, objectives: list[str]) -> list[float]:
    """The base weights the estimator uses, normalised to sum to 1 (the papers' convex combination).

    ``weights`` null gives 1/K each; a list must have one entry >= 0 per objective, in the task's
    order, not all 0. ``method.only_objective`` (single-reward GRPO) overrides them with a one-hot.
    """
    k = len(objectives)
    if isinstance(run.weights, dict):  # a schedule: its weights at step 0 (TRL's logged reward only)
        return weight_schedule(run, objectives)(0)
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
    total = float(sum(w))  # inf when it overflows (math.fsum would raise)
    if not math.isfinite(total):
        raise ConfigError(f"weights={w}: their sum overflows; only their ratios matter, so scale them down "
                          f"(e.g. weights=[{', '.join(f'{x / max(w):g}' for x in w)}]).")
    if total <= 0:
        raise ConfigError(f"weights={w} are all 0: at least one objective needs a positive weight.")
    return [float(x) / total for x in w]


def weight_schedule(run: RunConfig, objectives: list[str]):
    """The base weights as a function of the step (workbench/train/schedule.py): constant for null or a list
    (``objective_weights``), else the validated schedule. ConfigError names the bad key."""
    from workbench.train import schedule

    if not isinstance(run.weights, dict):
        return schedule.constant(objective_weights(run, objectives))
    if run.method.only_objective is not None:
        raise ConfigError(f"method={run.method.name} trains on one objective only (method.only_objective); a weight "
                          "schedule would have no effect. Give weights as a list, or choose another method.")
    try:
        return schedule.parse(run.weights, objectives, run.steps)
    except ValueError as exc:
        raise ConfigError(f"{exc} (task {run.task['name']!r} objectives: {objectives})") from None


def _weights_slug(weights) -> str:
    """``null`` -> "equal", [0.3, 0.7] -> "0.3-0.7", a schedule -> e.g. "linear-0.9-0.1-to-0.1-0.9" (run directory names)."""
    if weights is None:
        return "equal"
    if isinstance(weights, (dict, DictConfig)):
        spec = dict(weights)
        vec = lambda v: "-".join(f"{float(x):g}" for x in v) if isinstance(v, (list, tuple, ListConfig)) else str(v)  # noqa: E731
        if spec.get("schedule") == "steps":
            pieces = zip(spec.get("values") or [], spec.get("at") or [])
            return "steps-" + "-".join(f"{vec(v)}-at{s}" for v, s in pieces)
        ramp = f"-in{spec['ramp']}" if spec.get("ramp") is not None else ""
        return f"{spec.get('schedule')}-{vec(spec.get('start'))}-to-{vec(spec.get('end'))}{ramp}"
    if isinstance(weights, (list, tuple, ListConfig)):
        return "-".join(f"{float(x):g}" for x in weights)
    return str(weights)


def _variant_slug(loss: Any, dynamic_sampling: Any) -> str:
    """The run directory's suffix for a non-default loss setting or dynamic sampling ("" for loss=trl and off, so
    the directories of runs made before either existed keep their names): e.g. "-dapo-ds_all_constant"."""
    parts = ([] if loss in (None, "trl") else [str(loss)]) + \
        ([] if dynamic_sampling in (None, "off", False) else [f"ds_{dynamic_sampling}"])
    return "".join(f"-{p}" for p in parts)


def model_label(path: Any, hub_name: Any) -> str:
    """``model.name``'s default for ``model=hf``: the last part of ``model.path`` (a folder) or of
    ``model.hub_name`` (``Qwen/Qwen2.5-0.5B`` -> ``Qwen2.5-0.5B``), characters a run label cannot hold as -."""
    source = path if path not in (None, "") else hub_name
    if source in (None, ""):
        return "hf"
    last = str(source).rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or "hf"
    return re.sub(r"[^A-Za-z0-9._+-]", "-", last).lstrip("._+-") or "hf"


def launch_dir() -> str:
    """Hydra's output folder for a single run (conf/config.yaml ``hydra.run.dir``): date/time-pid (two runs
    started in the same second get folders of their own), except under torchrun, where every rank must share one
    folder: ``torchrun/<rendezvous id>`` (the same on all ranks)."""
    import os
    import time

    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    return f"torchrun/{run_id}" if run_id else time.strftime("%Y-%m-%d/%H-%M-%S") + f"-{os.getpid()}"


def register_resolvers() -> None:
    """``${wb.weights:${weights}}``, ``${wb.or:${sweep},adhoc}`` (run_dir), ``${wb.launch_dir:}`` (hydra.run.dir),
    ``${wb.model_name:${.path},${.hub_name}}`` (model=hf's label) and ``${wb.rank_suffix:}`` (the job log's
    name, workbench/distributed.py)."""
    from workbench import distributed

    if not OmegaConf.has_resolver("wb.launch_dir"):
        OmegaConf.register_new_resolver("wb.launch_dir", launch_dir, use_cache=True)
    if not OmegaConf.has_resolver("wb.model_name"):
        OmegaConf.register_new_resolver("wb.model_name", model_label)
    if not OmegaConf.has_resolver("wb.weights"):
        OmegaConf.register_new_resolver("wb.weights", _weights_slug)
    if not OmegaConf.has_resolver("wb.variant"):
        OmegaConf.register_new_resolver("wb.variant", _variant_slug)
    if not OmegaConf.has_resolver("wb.or"):
        OmegaConf.register_new_resolver("wb.or", lambda value, default: default if value in (None, "") else value)
    if not OmegaConf.has_resolver("wb.rank_suffix"):
        OmegaConf.register_new_resolver("wb.rank_suffix", distributed.rank_suffix)


register_resolvers()
