"""One LLM GRPO run: build the model, map the config onto GRPOConfig, train, evaluate, summarise.

``grpo_config`` builds (and so validates) the GRPOConfig before the run directory is touched;
``train_llm`` is called by ``workbench.run.run`` after every config value has been validated, the task
built and the run directory claimed; it is the first place a model is loaded.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import math
import os
import statistics
from typing import Any, Callable

import torch
from transformers import PrinterCallback
from trl import GRPOConfig

from workbench import metrics as M
from workbench.logger import RunLogger
from workbench.train.callbacks import EvalCallback, MetricsCallback, StopCallback
from workbench.train.config import ConfigError, RunConfig, weight_schedule
from workbench.train.evaluate import EvalSettings, evaluate
from workbench.train.trainer import EstimatorGRPOTrainer, guard_reward

log = logging.getLogger(__name__)

# transformers renamed TrainingArguments.gradient_checkpointing to activation_checkpointing after 5.17 (the version on
# the GPU machines, bench/gpu/device_packages.txt), keeping the old name as a deprecated alias; 5.17 knows only the old
# one. TRL's GRPOConfig turns it on by default, so the workbench always sets it, under the name the installed one takes.
CHECKPOINTING = ("activation_checkpointing" if "activation_checkpointing" in {f.name for f in dataclasses.fields(GRPOConfig)}
                 else "gradient_checkpointing")
# GRPOConfig fields a model yaml may set directly (workbench.models.config.ModelConfig).
MODEL_TRAINER_KEYS = ("use_vllm", "vllm_mode", "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size",
                      "vllm_server_base_url", "vllm_server_host", "vllm_server_port", "top_p")


def _micro_batch(per_process: int, memory_cap: int) -> int:
    """Largest divisor of ``per_process`` that is at most ``memory_cap`` (the model's per-device batch)."""
    return max(d for d in range(1, min(per_process, max(memory_cap, 1)) + 1) if per_process % d == 0)


def grpo_kwargs(run: RunConfig, weights: list[float], output_dir: str) -> dict[str, Any]:
    """GRPOConfig arguments: workbench defaults, then the model's settings, then ``train.extra``.

    The completions per optimiser step (``run.completions_per_step``, a multiple of G) are split into
    micro-batches no larger than the model's ``per_device_train_batch_size`` (its memory limit) with
    gradient accumulation making up the rest, so the estimator always sees whole groups. Without a
    GPU, CPU settings are forced (NOTES.md: bf16 and vLLM need a GPU).
    """
    model = run.model
    world = int(os.environ.get("WORLD_SIZE", "1"))
    total = run.completions_per_step
    if total % world:
        step = math.lcm(run.G, world)
        raise ValueError(f"train.batch_size={total} completions cannot be split over {world} processes: use a multiple "
                         f"of {step} (G={run.G} and {world} processes), e.g. train.batch_size={max(step, total // step * step)} "
                         f"or {(total // step + 1) * step}.")
    if run.train.dynamic_sampling != "off" and (total // world) % run.G:
        step = run.G * world
        raise ValueError(f"train.dynamic_sampling={run.train.dynamic_sampling} replaces whole groups, so each of the "
                         f"{world} processes must hold whole groups: train.batch_size={total} over {world} processes "
                         f"leaves {total // world} completions each, not a multiple of G={run.G}. Use a multiple of "
                         f"{step}, e.g. train.batch_size={max(step, total // step * step)}.")
    micro = _micro_batch(total // world, int(model.get("per_device_train_batch_size") or total))
    gpu = torch.cuda.is_available() and not model.get("use_cpu", False)
    dtype = model.get("dtype", "fp32")
    kwargs: dict[str, Any] = dict(
        output_dir=output_dir,
        max_steps=run.steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=total // world // micro,
        num_generations=run.G,
        learning_rate=run.train.learning_rate or model.get("learning_rate") or 1e-6,
        max_completion_length=run.train.max_new_tokens or model.get("max_completion_length") or 256,
        temperature=run.train.temperature or model.get("temperature") or 1.0,
        beta=run.train.beta,
        reward_weights=list(weights),  # only TRL's own logged "reward"; the loss uses the estimator
        seed=run.seed,
        logging_steps=1,
        save_strategy="steps",
        save_steps=run.train.save_every,
        save_total_limit=run.train.save_limit,
        report_to="none",  # W&B is written by RunLogger with workbench keys
        log_completions=False,
        disable_tqdm=True,
        lr_scheduler_type="constant",  # the DVAO paper trains at a constant learning rate
        dataloader_num_workers=0,
        use_cpu=not gpu,
        bf16=gpu and dtype == "bf16",
        fp16=gpu and dtype == "fp16",
    )
    kwargs[CHECKPOINTING] = gpu and bool(model.get("gradient_checkpointing", False))
    kwargs.update({k: model[k] for k in MODEL_TRAINER_KEYS if model.get(k)})  # unset/false: TRL's default
    kwargs.update(run.loss.grpo_args())  # the loss group (conf/loss/); train.extra may not contradict it
    kwargs.update(run.train.extra)
    if not gpu:  # NOTES.md: vLLM needs a GPU; generation falls back to transformers' generate
        vllm = sorted(k for k in kwargs if k == "use_vllm" or k.startswith("vllm_"))
        if kwargs.get("use_vllm"):
            log.info("no GPU: vLLM off (%s ignored)", ", ".join(vllm))
        for key in vllm:
            kwargs.pop(key)
    return kwargs


# GRPOConfig arguments the workbench sets from its own keys: in train.extra they would be silently overridden or
# contradict what the run records, so they are refused with the key to use instead.
OWNED = {
    "scale_rewards": "the estimator normalises the rewards: choose it with method= (docs/estimators.md)",
    "multi_objective_aggregation": "the estimator combines the objectives: choose it with method= (rc is "
                                   "sum_then_normalize, gdpo is normalize_then_sum)",
    "reward_weights": "set the objective weights with weights=[...] (task objective order)",
    "num_generations": "set the group size with G=",
    "max_steps": "set steps=",
    "seed": "set seed=",
    "output_dir": "checkpoints go to <run_dir>/checkpoints; set run_dir=",
    "learning_rate": "set train.learning_rate= (or the model's learning_rate)",
    "beta": "set train.beta=",
    "temperature": "set train.temperature=",
    "max_completion_length": "set train.max_new_tokens=",
    "save_steps": "set train.save_every=",
    "save_total_limit": "set train.save_limit=",
    "per_device_train_batch_size": "set train.batch_size= (completions per step) and model.per_device_train_batch_size= "
                                   "(the memory limit); the workbench derives both",
    "gradient_accumulation_steps": "set train.batch_size= (completions per step) and model.per_device_train_batch_size=",
    "report_to": "choose the logger with logger=",
    "use_cpu": "set model.use_cpu=",
    "bf16": "set model.dtype=",
    "fp16": "set model.dtype=",
}
# GRPOConfig string options TRL 1.16 accepts only from a fixed set, though neither GRPOConfig nor GRPOTrainer's
# constructor checks them (a wrong loss_type fails at the first loss computation, after the run started).
CHOICES = {
    "loss_type": ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"),
    "importance_sampling_level": ("token", "sequence"),
    "vllm_mode": ("server", "colocate"),
    "vllm_importance_sampling_mode": ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask"),
    "vllm_model_impl": ("transformers", "vllm"),
}
# Numeric GRPOConfig options with a range outside which TRL would train nonsense or fail late.
RANGES = {
    "num_iterations": (1, None), "epsilon": (0, None), "epsilon_high": (0, None), "top_entropy_quantile": (0, 1),
    "steps_per_generation": (1, None), "generation_batch_size": (1, None),
}
GRPO_CONFIG_FILE = "grpo_config.json"   # the effective GRPOConfig, written readable into the run directory


def _check_extra_owned(extra: dict, loss) -> None:
    owned = sorted(set(extra) & set(OWNED))
    if owned:
        raise ConfigError("; ".join(f"train.extra.{k} is set by the workbench: {OWNED[k]}" for k in owned) + ".")
    fixed = loss.grpo_args()
    clash = sorted(k for k in set(extra) & set(fixed) if extra[k] != fixed[k])
    if clash:  # the run would be labelled loss=<name> while training another loss
        raise ConfigError("; ".join(f"train.extra.{k}={extra[k]!r} contradicts loss={loss.name} ({k}={fixed[k]!r})"
                                    for k in clash) + ": set loss.<key>= (and loss.name=) instead, or drop train.extra.")


def _check_choices(args: dict, section: Callable[[str], str] = lambda key: "train.extra") -> None:
    """Enumerated and ranged GRPOConfig values; ``section(key)`` names where the value was set (train.extra, loss)."""
    for key, allowed in CHOICES.items():
        value = args.get(key)
        if value is not None and value not in allowed:
            raise ConfigError(f"{section(key)}.{key}={value!r}: GRPOConfig.{key} takes one of {', '.join(allowed)}.")
    for key, (lo, hi) in RANGES.items():
        value = args.get(key)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise ConfigError(f"{section(key)}.{key}={value!r}: GRPOConfig.{key} must be {bounds}.")


def _check_extra_types(extra: dict, section: str = "train.extra") -> None:
    """A ``train.extra`` (or ``loss``) value whose type cannot be the field's (GRPOConfig itself accepts anything)."""
    defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    for key, value in extra.items():
        default = defaults.get(key)
        if key == "epsilon_high" and default is None:   # Optional[float]: None by default
            default = 0.0
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(type(default))
        if kinds and value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            raise ConfigError(f"{section}.{key}={value!r}: GRPOConfig.{key} takes a {type(default).__name__} "
                              f"(default {defaults.get(key)!r}).")


def grpo_config(run: RunConfig, weights: list[float], output_dir: str) -> GRPOConfig:
    """The run's GRPOConfig; every bad ``train.extra`` key or value is a ConfigError naming it. Creating it
    writes nothing (``output_dir`` is only created by the first checkpoint)."""
    try:
        kwargs = grpo_kwargs(run, weights, output_dir)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(run.train.extra) - fields)
    if unknown:
        close = {k: difflib.get_close_matches(k, fields, n=1) for k in unknown}
        hints = "".join(f" (did you mean {close[k][0]}?)" for k in unknown if close[k])
        raise ConfigError(f"train.extra: {', '.join(unknown)} is not a trl.GRPOConfig argument{hints}; see "
                          f"`python -c 'import trl; help(trl.GRPOConfig)'` for the valid ones.")
    _check_extra_owned(run.train.extra, run.loss)
    _check_extra_types(run.train.extra)
    _check_extra_types(run.loss.grpo_args(), "loss")
    _check_choices(kwargs, lambda key: "train.extra" if key in run.train.extra or key not in run.loss.grpo_args() else "loss")
    try:
        return GRPOConfig(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"GRPOConfig rejects the run's settings (train.*, model.*, G): {exc}") from None


def eval_settings(run: RunConfig, max_new_tokens: int) -> EvalSettings:
    """Sampling at evaluation: the task's ``eval`` options (prompts, samples, temperature, top_p)."""
    opts = run.task.get("eval") or {}
    return EvalSettings(prompts=int(opts.get("n_prompts", 64)), samples=int(opts.get("n_samples", 1)),
                        temperature=float(opts.get("temperature", 1.0)), top_p=float(opts.get("top_p", 1.0)),
                        max_new_tokens=max_new_tokens, batch_size=run.eval.batch_size, seed=run.seed)


def base_summary(run: RunConfig, objectives: list[str], weights: list[float], eval_axes: list[str]) -> dict[str, Any]:
    """The config axes every summary.json holds (store contract), plus the task's numeric options."""
    summary: dict[str, Any] = dict(
        method=run.method.name, task=run.task["name"], model=run.model["name"], G=run.G, K=len(objectives),
        seed=run.seed, weights=list(weights), sweep=run.sweep, objectives=list(objectives),
        eval_axes=list(eval_axes), loss=run.loss.name, dynamic_sampling=run.train.dynamic_sampling,
    )
    for key, value in run.task.items():  # e.g. `noise` in an ablation: an extra axis for analysis
        if key not in summary and isinstance(value, (int, float)) and not isinstance(value, bool):
            summary[key] = value
    noise = run.task.get("noise") or {}
    if noise.get("objective"):  # the noise ablation's axes (workbench/tasks/noise.py)
        summary.update(noise=float(noise.get("std", 0.0)), noise_scale=float(noise.get("scale", 1.0)),
                       noise_objective=noise["objective"])
    return summary


def write_run_record(logger: RunLogger, args: GRPOConfig, task) -> None:
    """Readable records of what the run trains with, written by the process that writes the run: the effective
    GRPOConfig (grpo_config.json) and the task's own records (``task.run_record()``, e.g. the custom task's
    data_split.json)."""
    if not logger.is_writer:
        return
    files = {GRPO_CONFIG_FILE: json.loads(args.to_json_string())}
    if hasattr(task, "run_record"):
        files.update(task.run_record())
    for name, record in files.items():
        logger.store.write_json(name, record)


def train_llm(run: RunConfig, task, weights: list[float], logger: RunLogger, args: GRPOConfig,
              resume_from: str | None = None, callbacks: list | None = None, stop=None) -> dict[str, Any]:
    """Train ``run.steps`` GRPO steps on ``task`` with ``run.method``'s estimator; return the summary.

    Logs one record per step and one per evaluation through ``logger``; resumes from the checkpoint
    directory ``resume_from`` when given. ``args``: ``grpo_config(...)``. ``stop``: a
    workbench.interrupt.StopRequest; once requested, training ends at the next step boundary with a
    checkpoint there and Interrupted is raised (no final evaluation). ``callbacks`` are extra TrainerCallbacks.
    """
    from workbench import models
    from workbench.models import lora

    schedule = weight_schedule(run, task.objectives)   # validated before the run started (run.validate)
    model, tokenizer = models.build(run.model, task)
    write_run_record(logger, args, task)
    settings = eval_settings(run, args.max_completion_length)
    eval_data = task.eval_dataset()
    evaluated: dict[int, dict[str, float]] = {}

    def run_eval(policy, step: int) -> None:
        result = evaluate(policy, tokenizer, task, eval_data, settings)
        logger.log_eval(step, result)
        evaluated[step] = result
        log.info("eval at step %d: %s", step, ", ".join(
            f"{a.name} {result.get(M.eval_metric(a.name), float('nan')):.3f}" for a in task.eval_axes))

    step_times: list[float] = []

    def log_step(step: int, record: dict) -> None:
        logger.log(step, record)
        step_times.append(record.get(M.STEP_TIME, float("nan")))
        shown = ", ".join(f"{o} {record.get(M.reward_mean(o), float('nan')):.3f}" for o in task.objectives)
        log.info("step %d/%d  reward: %s  |A| %.3f  %.2fs", step, run.steps, shown,
                 record.get(M.ADV_ABS_MEAN, float("nan")), record.get(M.STEP_TIME, float("nan")))

    trainer = EstimatorGRPOTrainer(
        model=model, processing_class=tokenizer, args=args, train_dataset=task.train_dataset(),
        reward_funcs=[guard_reward(fn) for fn in task.reward_funcs()],
        estimator=run.method.estimator, estimator_options=run.method.options,
        objective_weights=schedule, objectives=task.objectives,
        dynamic_sampling=run.train.dynamic_sampling, dynamic_rounds=run.train.dynamic_sampling_rounds,
        callbacks=[MetricsCallback(log_step), EvalCallback(run.eval.every, run_eval), *(callbacks or [])],
        peft_config=lora.peft_config(models.parse(run.model).lora),
    )
    counts = lora.parameter_counts(trainer.model)
    log.info("trainable parameters: %d of %d (%.2f%%)%s", counts["trainable_params"], counts["total_params"],
             100.0 * counts["trainable_params"] / max(counts["total_params"], 1),
             f", LoRA r={models.parse(run.model).lora.r}" if models.parse(run.model).lora.r else "")
    trainer.remove_callback(PrinterCallback)  # per-step lines come from log_step, in workbench keys
    if stop is not None:
        trainer.add_callback(StopCallback(stop))
    trainer.train(resume_from_checkpoint=resume_from)
    step = trainer.state.global_step
    if stop is not None:
        stop.check(step)  # stopped early by a signal: the checkpoint is saved, no final evaluation
    if step not in evaluated:  # the final evaluation, unless the last periodic one was at this step
        run_eval(trainer.model, step)
    summary = base_summary(run, task.objectives, schedule(max(run.steps - 1, 0)), [a.name for a in task.eval_axes])
    if schedule.scheduled:   # the analysis' sweep point (not the weights it ended with)
        summary["weight_schedule"] = schedule.record()
    summary.update(counts)
    summary["step"] = step
    summary.update(evaluated[step])
    timed = [t for t in step_times if t == t]
    if timed:
        summary[M.STEP_TIME] = statistics.median(timed)
    return summary
