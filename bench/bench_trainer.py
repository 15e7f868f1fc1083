"""Benchmark: median optimiser-step time of EstimatorGRPOTrainer (DVAO) versus vanilla TRL GRPOTrainer.

Same tiny model (the project's warmed `tiny` on `math`), same data, G, batch and GRPOConfig (built by
workbench.train.llm.grpo_kwargs), one torch thread. The learning rate is 0 so both trainers keep the
same policy and sample the same completions from the same seed: the difference is only our per-step
overhead (keeping the rewards, the estimator call, its metrics). Rounds alternate vanilla / ours so
load from other jobs on the shared cores hits both alike. Step times exclude the first two steps of
each round (allocator and cache warm-up). CPU time per step is reported beside wall time: other
people's jobs inflate wall time but not this process's CPU time. Target: ratio <= 1.05.
Run: .venv/bin/python bench/bench_trainer.py [--steps 20] [--rounds 6] [--G 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from workbench.quiet import silence_known_noise  # noqa: E402

silence_known_noise()  # before TRL is imported: no per-load bars or transformers' own FutureWarning

import torch  # noqa: E402
from transformers import PrinterCallback, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from tests.test_run_support import compose_cfg  # noqa: E402
from workbench import models, tasks  # noqa: E402
from workbench.train import config as C  # noqa: E402
from workbench.train.llm import grpo_kwargs  # noqa: E402
from workbench.train.trainer import EstimatorGRPOTrainer  # noqa: E402

WARMUP_STEPS = 2


class StepTimer(TrainerCallback):
    def __init__(self):
        self.wall, self.cpu = [], []

    def on_step_begin(self, args, state, control, **kwargs):
        self._w, self._c = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self._w)
        self.cpu.append(time.process_time() - self._c)


def one_round(ours: bool, spec, task, weights, steps: int, out: str) -> StepTimer:
    model, tokenizer = models.build(spec.model, task, progress=False)
    kwargs = grpo_kwargs(spec, weights, out)
    kwargs.update(max_steps=steps, learning_rate=0.0, save_strategy="no")
    timer = StepTimer()
    common = dict(model=model, processing_class=tokenizer, args=GRPOConfig(**kwargs),
                  train_dataset=task.train_dataset(), reward_funcs=task.reward_funcs(), callbacks=[timer])
    if ours:
        trainer = EstimatorGRPOTrainer(**common, estimator="dvao", objective_weights=weights,
                                       objectives=task.objectives)
    else:
        trainer = GRPOTrainer(**common)
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    timer.wall, timer.cpu = timer.wall[WARMUP_STEPS:], timer.cpu[WARMUP_STEPS:]
    return timer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--G", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = C.load(compose_cfg([f"G={args.G}", "logger=none"]))
    task = tasks.build(spec.task)
    weights = C.objective_weights(spec, task.objectives)
    times = {False: StepTimer(), True: StepTimer()}
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.rounds):
            for ours in (False, True):
                t = one_round(ours, spec, task, weights, args.steps, out)
                times[ours].wall += t.wall
                times[ours].cpu += t.cpu
    base_wall, base_cpu = statistics.median(times[False].wall), statistics.median(times[False].cpu)
    print(f"tiny/math, G={args.G}, {spec.completions_per_step} completions/step, "
          f"{args.rounds} rounds x {args.steps - WARMUP_STEPS} timed steps, 1 thread")
    print(f"{'trainer':<28}{'median wall s':>14}{'ratio':>8}{'median CPU s':>14}{'ratio':>8}")
    for ours, name in ((False, "TRL GRPOTrainer (baseline)"), (True, "EstimatorGRPOTrainer dvao")):
        wall, cpu = statistics.median(times[ours].wall), statistics.median(times[ours].cpu)
        print(f"{name:<28}{wall:>14.4f}{wall / base_wall:>8.3f}{cpu:>14.4f}{cpu / base_cpu:>8.3f}")


if __name__ == "__main__":
    main()
