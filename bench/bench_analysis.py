"""Benchmark: analysis cost versus the number of runs (each run logs 500 steps).

Generates 1,000 synthetic run directories (analysis.synthetic: 5 methods x 5 weights x 40 seeds, 500
metric records each) and times, for 250, 500 and 1,000 of them:
  pareto   load_runs(steps=False) + analyse: fronts, hypervolumes, dominance, and the comparison measures,
           each with 2,000 bootstrap resamples: per-method CIs, the probability of improvement of every
           pair of methods (40 x 40 seeds each), mean/IQM aggregates, performance profiles (101
           thresholds), attainment surfaces
  outputs  write_outputs: CSVs, PNG+PDF plots (fronts, hypervolume, PoI, attainment surfaces, EAF
           difference, aggregates, profiles) and report.md
  steps    load_runs(steps=True): also parse every metrics.jsonl into the long per-step table
and the whole `python -m analysis.pareto` command on 1,000 runs (fresh interpreter, imports included).
Ratios are against the 250-run baseline: linear growth shows as ratios near 2 and 4.
Run: .venv/bin/python bench/bench_analysis.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis import pareto, synthetic  # noqa: E402
from analysis.load import load_runs  # noqa: E402

METHODS = ("rc", "ac", "gdpo", "dvao", "grpo_nostd")
SIZES = (250, 500, 1000)
STEPS = 500


def generate(root: Path) -> None:
    """Four parts of 250 runs (10 seeds each), then n250/n500/n1000 as hard-linked unions of parts."""
    for part in range(4):
        synthetic.write_sweep(root / "parts" / f"p{part}", methods=METHODS, seeds=range(10 * part, 10 * part + 10),
                              steps=STEPS, bulk=True)
    for n in SIZES:
        for part in range(n // 250):
            shutil.copytree(root / "parts" / f"p{part}", root / f"n{n}" / f"p{part}", copy_function=os.link)


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds. CPU time is what the ratios use: the 2 cores here are shared, and
    other people's jobs inflate wall time but not this process's CPU time."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall), cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", default=None, help="generate into this folder and keep it")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="bench_analysis_"))
    warnings.simplefilter("ignore")
    try:
        start = time.perf_counter()
        if not (root / "n1000").exists():
            generate(root)
        print(f"generated 1,000 runs x {STEPS} steps in {time.perf_counter() - start:.1f} s under {root}")
        rows = []
        warm = pareto.analyse(load_runs(root / "n250", steps=False).runs)   # warm-up: imports, font cache
        pareto.write_outputs(warm, root / "warm")
        for n in SIZES:
            runs_dir = root / f"n{n}"
            compute = timed(lambda: pareto.analyse(load_runs(runs_dir, steps=False).runs), repeats=3)
            result = pareto.analyse(load_runs(runs_dir, steps=False).runs)
            assert len(result.runs) == n
            outputs = timed(lambda: pareto.write_outputs(result, root / f"out{n}"), repeats=1)
            steps = timed(lambda: load_runs(runs_dir, steps=True), repeats=1)
            rows.append((n, compute, outputs, steps))
        base = rows[0]
        print("\nseconds as wall/CPU; ratio = CPU time / CPU time at 250 runs")
        print(f"{'runs':>6} {'pareto s':>12} {'ratio':>6} {'CPU ms/run':>10} {'outputs s':>12} {'ratio':>6}"
              f" {'steps s':>12} {'ratio':>6} {'CPU ms/run':>10}")
        for n, compute, outputs, steps in rows:
            print(f"{n:>6} {compute[0]:>5.2f}/{compute[1]:<6.2f} {compute[1] / base[1][1]:>6.2f}"
                  f" {1e3 * compute[1] / n:>10.2f} {outputs[0]:>5.2f}/{outputs[1]:<6.2f} {outputs[1] / base[2][1]:>6.2f}"
                  f" {steps[0]:>5.2f}/{steps[1]:<6.2f} {steps[1] / base[3][1]:>6.2f} {1e3 * steps[1] / n:>10.2f}")
        for col, name in ((1, "pareto"), (3, "steps")):
            slope, intercept = np.polyfit([r[0] for r in rows], [r[col][1] for r in rows], 1)
            print(f"linear fit of {name} CPU time: {intercept:.3f} s + {1e3 * slope:.3f} ms x runs")
        start, child = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "analysis.pareto", str(root / "n1000"), "--out", str(root / "cli")],
                       check=True, capture_output=True, cwd=Path(__file__).resolve().parents[1])
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = used.ru_utime + used.ru_stime - child.ru_utime - child.ru_stime
        print(f"\n`python -m analysis.pareto` on 1,000 runs x {STEPS} steps, end to end (imports, plots and"
              f" report included): {time.perf_counter() - start:.2f} s wall, {cpu:.2f} s CPU;"
              f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
