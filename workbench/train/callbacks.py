"""Trainer callbacks: per-step metrics to the RunLogger, periodic held-out evaluation.

TRL logs its values under its own names (``loss``, ``grad_norm``, ``kl``, ``completions/mean_length``,
...); ``train_record`` renames the ones the workbench reports to workbench.metrics keys and keeps the
estimator metrics the trainer added, so metrics.jsonl and W&B see one vocabulary.
"""
from __future__ import annotations

import time
from typing import Callable

from transformers import TrainerCallback

from workbench import metrics as M

# TRL / transformers log name -> workbench metric key
TRL_KEYS = {
    "loss": M.LOSS,
    "grad_norm": M.GRAD_NORM,
    "kl": M.KL,
    "completions/mean_length": M.COMPLETION_LENGTH,
    "learning_rate": M.LEARNING_RATE,
}
ESTIMATOR_SECTIONS = (M.REWARD, M.VARIANCE, M.WEIGHT, M.ADVANTAGE, M.DYNAMIC)


def train_record(logs: dict[str, float]) -> dict[str, float]:
    """The workbench keys of one TRL training log (estimator metrics plus the renamed TRL values)."""
    record = {key: logs[name] for name, key in TRL_KEYS.items() if name in logs}
    record.update({k: v for k, v in logs.items() if "/" in k and k.split("/", 1)[0] in ESTIMATOR_SECTIONS})
    return record


class MetricsCallback(TrainerCallback):
    """Sends one record per optimiser step to ``log(step, metrics)``, with the wall-clock step time."""

    def __init__(self, log: Callable[[int, dict], None]):
        self.log = log
        self._t0: float | None = None
        self._step_time: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t0 is not None:
            self._step_time = time.perf_counter() - self._t0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:  # the end-of-training summary log (train_runtime, ...) is not a step
            return
        record = train_record(logs)
        if self._step_time is not None:
            record[M.STEP_TIME] = self._step_time
        self.log(state.global_step, record)


class EvalCallback(TrainerCallback):
    """Calls ``run_eval(model, step)`` before training (step 0, the starting policy) and every ``every``
    optimiser steps; ``every=0`` turns both off (the caller always does the final one)."""

    def __init__(self, every: int, run_eval: Callable[[object, int], None]):
        self.every = every
        self.run_eval = run_eval

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step == 0:
            self.run_eval(model, 0)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self.run_eval(model, state.global_step)


def any_rank(flag: bool, device=None) -> bool:
    """``flag`` OR-ed over every process (one tiny all-reduce when torch.distributed runs several)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class StopCallback(TrainerCallback):
    """Ends training at the step boundary after a stop request (workbench.interrupt), with a checkpoint
    there so that resume=true continues from that very step. The ranks agree first (any rank's signal
    stops them all at the same step), since a checkpoint save is collective."""

    def __init__(self, stop):
        self.stop = stop

    def on_step_end(self, args, state, control, **kwargs):
        if any_rank(self.stop.requested, args.device):
            self.stop.at_boundary()  # the step ended in time: its checkpoint save may take as long as it needs
            control.should_save = self.stop.save
            control.should_training_stop = True
