"""Speed of every registered estimator (diagnostics and input checks included) against TRL 1.16's own
``normalize_then_sum`` advantage code on the same tensors, timed side by side in one process.

    .venv/bin/python bench/bench_estimators.py [--repeats 31] [--threads 1] [--ref COMMIT]

For each (B, G, K) the timed calls are interleaved round by round (baseline, then every estimator),
so machine load hits all of them alike; each figure is the median over rounds of the mean time of
``inner`` back-to-back calls. Rewards: uniform in [0, 1), float32, CPU, once complete and once with
1% missing (NaN), since the estimators take a shorter path when nothing is missing.
TRL's side is its inline block lifted from the installed source (workbench.advantages.trl_reference),
called as a plain function: the same work GRPOTrainer does, without the trainer around it.
Targets (issue 2): every ratio to TRL <= 1; DVAO / RC <= 1.2.

--ref COMMIT also times the estimators of ``workbench/advantages`` as they were at COMMIT (extracted with
git archive into a temporary package, imported beside the current one) in the same rounds, as
``name@COMMIT`` rows, and prints each current estimator's time over its COMMIT time: a regression check
side by side, immune to the machine's load changing between two runs.
"""
from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from workbench.advantages import get, names
from workbench.advantages.trl_reference import trl_advantages

SHAPES = [(8, 16, 2), (512, 16, 4), (4096, 16, 8)]
BASELINE = "trl normalize_then_sum"


def make_rewards(b: int, g: int, k: int, missing: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    r = torch.rand(b, g, k, generator=gen)
    r[torch.rand(b, g, k, generator=gen) < missing] = float("nan")
    return r


def time_calls(fns: dict, repeats: int, inner: int) -> dict[str, float]:
    """Median over ``repeats`` rounds of the per-call seconds of each fn, rounds interleaved."""
    for fn in fns.values():  # warm-up: allocator, dispatcher caches, lazy imports
        for _ in range(3):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner)
    return {name: statistics.median(s) for name, s in samples.items()}


def load_ref(commit: str, into: str):
    """The ``workbench.advantages`` package as it was at ``commit``, imported as its own package."""
    root = Path(__file__).resolve().parents[1]
    try:
        tar = subprocess.run(["git", "archive", commit, "workbench/advantages"], cwd=root, check=True,
                             capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"--ref {commit!r}: git archive failed ({exc.stderr.decode().strip()}); pass a commit of "
                         "this repository (git log --oneline).") from None
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    package = f"ref_advantages_{commit.replace('/', '_').replace('-', '_').replace('.', '_')}"
    os.rename(os.path.join(into, "workbench", "advantages"), os.path.join(into, package))
    sys.path.insert(0, into)
    return importlib.import_module(package)


def bench_shape(shape: tuple[int, int, int], missing: float, repeats: int, ref=None,
                ref_name: str = "") -> dict[str, float]:
    rewards = make_rewards(*shape, missing)
    w = [1.0 / shape[-1]] * shape[-1]
    fns = {BASELINE: lambda: trl_advantages(rewards, w, "normalize_then_sum")}
    for name in names():
        fns[name] = (lambda est: lambda: est(rewards, w))(get(name))
        if ref is not None and name in ref.names():
            fns[f"{name}@{ref_name}"] = (lambda est: lambda: est(rewards, w))(ref.get(name))
    inner = max(1, 2_000_000 // rewards.numel())  # keep each sample well above timer resolution
    inner = min(inner, 200)
    return time_calls(fns, repeats, inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31, help="timed rounds per shape (median taken)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: steadier figures on a shared machine)")
    parser.add_argument("--ref", metavar="COMMIT", help="also time the estimators as they were at this git commit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as into:
        ref = load_ref(args.ref, into) if args.ref else None
        report(args, ref)


def report(args, ref) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"median of {args.repeats} interleaved rounds")
    header = f"{'(B, G, K)':<16}{'missing':>8}  {'estimator':<24}{'time (us)':>11}{'/ TRL':>8}{'/ rc':>8}"
    print(header)
    print("-" * len(header))
    worst, dvao_rc, against_ref = 0.0, 0.0, []
    for shape, missing in [(s, m) for s in SHAPES for m in (0.0, 0.01)]:
        t = bench_shape(shape, missing, args.repeats, ref, args.ref or "")
        for name, sec in t.items():
            base, _, at = name.partition("@")
            ratio, to_rc = sec / t[BASELINE], sec / t["rc@" + at if at else "rc"]
            if name != BASELINE and not at:
                worst = max(worst, ratio)
            if name == "dvao":
                dvao_rc = max(dvao_rc, to_rc)
            if at:
                against_ref.append((t[base] / sec, base, shape, missing))
            print(f"{str(shape):<16}{missing:>8.0%}  {name:<24}{sec * 1e6:>11.1f}{ratio:>8.2f}{to_rc:>8.2f}")
    print(f"\nslowest estimator / TRL: {worst:.2f} (target <= 1.00);  dvao / rc, worst shape: {dvao_rc:.2f} "
          f"(target <= 1.20)")
    if against_ref:
        ratio, name, shape, missing = max(against_ref)
        print(f"now / {args.ref}: from {min(against_ref)[0]:.2f} to {ratio:.2f} (the largest: {name} at {shape}, "
              f"{missing:.0%} missing)")


if __name__ == "__main__":
    main()
