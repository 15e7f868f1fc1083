"""Benchmark: warm sweep workers against a fresh interpreter per job (hydra/launcher=local).

The same `make sweep-math`-shaped sweep (sweeps/math.yaml: tiny model, 30 steps, one torch thread per job,
n_jobs = the machine's cores), restricted to `--methods` x `--seeds` points so that a round takes minutes, is
run twice per round into fresh folders: with `hydra.launcher.warm=true` (each worker imports torch,
transformers and TRL once and forks a fresh child per job) and with `warm=false` (a new Python interpreter
per job). Rounds alternate the order, so load from other jobs hits both alike. Reported: the sweep's wall time
per mode (median over rounds) and the ratio warm / fresh, plus the CPU time of all processes.
Goal (issue 23): ratio <= 0.7.
Run: .venv/bin/python bench/bench_sweep_workers.py [--rounds 1] [--methods rc,ac,dvao] [--seeds 0,1,2,3] [--steps 30]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sweep_once(warm: bool, folder: Path, args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of every child process) of one sweep."""
    cmd = [sys.executable, "-m", "workbench.run", "-m", "-cd", str(ROOT), "+sweeps=math", "logger=none",
           f"hydra.launcher.warm={str(warm).lower()}", f"hydra.sweep.dir={folder / 'sweep'}",
           f"hydra.sweeper.params.method='{args.methods}'", f"hydra.sweeper.params.seed='{args.seeds}'",
           "hydra.sweeper.params.weights='[0.5,0.5]'", f"steps={args.steps}", f"run_dir={folder}/runs/"
           + "${method.name}-s${seed}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=folder, env={**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"},
                         capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit(f"sweep failed ({'warm' if warm else 'fresh'}):\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--methods", default="rc,ac,dvao")
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    jobs = len(args.methods.split(",")) * len(args.seeds.split(","))
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in range(args.rounds):
        for warm in ((True, False) if r % 2 == 0 else (False, True)):
            with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
                wall, cpu = sweep_once(warm, Path(tmp), args)
            times[warm].append((wall, cpu))
            print(f"round {r + 1}/{args.rounds} {'warm ' if warm else 'fresh'}: {jobs} jobs in {wall:6.1f} s wall, "
                  f"{cpu:6.1f} s CPU", flush=True)
    med = {w: (statistics.median(t[0] for t in times[w]), statistics.median(t[1] for t in times[w])) for w in times}
    ratio, cpu_ratio = med[True][0] / med[False][0], med[True][1] / med[False][1]
    print(f"\nsweep of {jobs} math jobs ({args.steps} steps, {os.cpu_count()} at a time), median of {args.rounds} rounds:"
          f"\n  fresh interpreter per job: {med[False][0]:6.1f} s wall, {med[False][1]:6.1f} s CPU"
          f"\n  warm workers:              {med[True][0]:6.1f} s wall, {med[True][1]:6.1f} s CPU"
          f"\n  warm / fresh: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (goal: <= 0.7x wall)")
    return {"fresh_s": med[False][0], "warm_s": med[True][0], "ratio": ratio, "cpu_ratio": cpu_ratio}


if __name__ == "__main__":
    main()
