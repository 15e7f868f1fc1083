"""Benchmark: the cost of a second process. Median optimiser-step time of one `workbench.run` process
versus two (torchrun --standalone --nproc_per_node 2, gloo) on the same total batch, and the time of
one held-out evaluation.

Same tiny model, task, G and completions per step; each process runs one torch thread. Two processes
split the generation and the backward pass and add the gathers (rewards, gradients, eval results).
Rounds alternate one / two so load from other jobs hits both alike; the first 2 steps of each run are
dropped (warm-up). Step times come from the runs' own metrics.jsonl (train/step_time, rank 0). The CPU
time of all processes of a run (getrusage of the children) is reported beside: other jobs on the shared
cores inflate wall time much more than CPU time.

CPU caveat: this machine has 2 cores shared with other jobs, and gloo all-reduces on CPU, so the ratio
says what the extra process costs here, not what a second GPU buys (there, compute per process halves
and NCCL moves gradients over NVLink).
Run: .venv/bin/python bench/bench_multiproc.py [--steps 8] [--rounds 2] [--G 8] [--prompts 8]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP_STEPS = 2


def run(processes: int, out: Path, args) -> tuple[list[float], float, float]:
    """Step times (s, warm-up dropped), the whole command's wall time and its CPU time (all processes)."""
    overrides = [f"G={args.G}", f"steps={args.steps}", f"train.prompts_per_step={args.prompts}",
                 f"train.save_every={args.steps}", "eval.every=0", "++task.eval.n_prompts=64", "logger=none",
                 "threads=1", f"run_dir={out}"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] \
        if processes > 1 else [sys.executable]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    start, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run([*launcher, "-m", "workbench.run", *overrides], cwd=out.parent, env=env,
                          capture_output=True, text=True, timeout=1800)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if done.returncode:
        sys.exit(f"{processes}-process run failed:\n{done.stderr[-3000:]}")
    steps = [json.loads(line)["train/step_time"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return steps[WARMUP_STEPS:], wall, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--G", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per step (G x prompts completions)")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    walls: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for n in (1, 2):
                steps, wall, cpu = run(n, Path(tmp) / f"r{r}-p{n}", args)
                times[n] += steps
                walls[n].append(wall)
                cpus[n].append(cpu)
                print(f"round {r + 1}: {n} process(es): median step {statistics.median(steps):.3f} s, "
                      f"run {wall:.1f} s wall, {cpu:.1f} s CPU")
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"\n{args.G * args.prompts} completions per step, {args.steps - WARMUP_STEPS} timed steps x {args.rounds} rounds")
    print(f"median step time: 1 process {one:.3f} s, 2 processes {two:.3f} s, ratio 2/1 = {two / one:.2f}")
    print(f"whole run (start-up, {args.steps} steps, final evaluation on 64 prompts, checkpoint), median: "
          f"1 process {statistics.median(walls[1]):.1f} s wall / {statistics.median(cpus[1]):.1f} s CPU, "
          f"2 processes {statistics.median(walls[2]):.1f} s wall / {statistics.median(cpus[2]):.1f} s CPU")


if __name__ == "__main__":
    main()
