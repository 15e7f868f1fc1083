"""Speed of every registered estimator (diagnostics and input checks included) against TRL 1.16's own
``normalize_then_sum`` advantage code on the same tensors, timed side by side in one process.

    .venv/bin/python bench/bench_estimators.py [--repeats 31] [--threads 1] [--seed 0] [--ref COMMIT]

For each (B, G, K), every round times each function once (``inner`` back-to-back calls, per-call mean),
in a fresh random order per round, so machine load hits all of them alike and no estimator always runs
right after the same one. Rewards: uniform in [0, 1), float32, CPU, once complete and once with 1%
missing (NaN), since the estimators take a shorter path when nothing is missing.
TRL's side is its inline block lifted from the installed source (workbench.advantages.trl_reference),
called as a plain function: the same work GRPOTrainer does, without the trainer around it.

Two figures per estimator and shape, because load on a shared machine does not slow every kind of code
alike (numpy code with a larger working set, like rdpo's rank table, loses more to a neighbour than
torch's per-operation overhead does):
- cost ratio: the estimator's fastest round over TRL's fastest round. The fastest round is the one the
  least disturbed by other processes, so this is what the code itself costs (the rule of Python's
  ``timeit`` docs); the targets are judged on it.
- per-round ratio: the median over rounds of (estimator time / TRL time in the same round), with a
  distribution-free 95% interval (order statistics), i.e. what the run's conditions gave. An estimator
  whose whole interval lies above 1 is listed as slower under this run's load.
Targets (issue 2, issue 12): every cost ratio to TRL <= 1; DVAO / RC <= 1.2.

--ref COMMIT also times the estimators of ``workbench/advantages`` as they were at COMMIT (extracted with
git archive into a temporary package, imported beside the current one) in the same rounds, as
``name@COMMIT`` rows, and prints each current estimator's cost over its COMMIT cost: a regression check
side by side, immune to the machine's load changing between two runs.
"""
from __future__ import annotations

import argparse
import importlib
import io
import math
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from scipy.stats import binom

from workbench.advantages import get, names
from workbench.advantages.trl_reference import trl_advantages

SHAPES = [(8, 16, 2), (512, 16, 4), (4096, 16, 8)]
BASELINE = "trl normalize_then_sum"


def make_rewards(b: int, g: int, k: int, missing: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    r = torch.rand(b, g, k, generator=gen)
    r[torch.rand(b, g, k, generator=gen) < missing] = float("nan")
    return r


def time_calls(fns: dict, repeats: int, inner: int, seed: int = 0) -> dict[str, list[float]]:
    """Per-call seconds of each fn in each of ``repeats`` rounds; every round runs each fn once (``inner``
    back-to-back calls), in an order shuffled afresh per round."""
    for fn in fns.values():  # warm-up: allocator, dispatcher caches, lazy imports
        for _ in range(3):
            fn()
    order, rng = list(fns), random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        rng.shuffle(order)
        for name in order:
            fn = fns[name]
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner)
    return samples


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """(median, lo, hi): a distribution-free interval for the median from order statistics, covering it
    with probability >= level for any continuous distribution; (median, nan, nan) below 6 values, where
    no such interval exists at 95%."""
    xs, n = sorted(values), len(values)
    k = int(binom.ppf((1 - level) / 2, n, 0.5))   # P(Binomial(n, 1/2) <= k - 1) <= (1 - level) / 2
    if k < 1:
        return statistics.median(xs), math.nan, math.nan
    return statistics.median(xs), xs[k - 1], xs[n - k]


def summarise(samples: dict[str, list[float]]) -> dict[str, dict]:
    """Per fn: its fastest and median round (s), and cost and per-round ratios to TRL and to rc."""
    out = {}
    for name, times in samples.items():
        base, _, at = name.partition("@")
        rc = samples["rc@" + at if at else "rc"]
        per_round = [t / b for t, b in zip(times, samples[BASELINE])]
        out[name] = {"min": min(times), "median": statistics.median(times),
                     "cost": min(times) / min(samples[BASELINE]), "to_rc": min(times) / min(rc),
                     "per_round": median_interval(per_round)}
    return out


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
                ref_name: str = "", seed: int = 0) -> dict[str, dict]:
    rewards = make_rewards(*shape, missing)
    w = [1.0 / shape[-1]] * shape[-1]
    fns = {BASELINE: lambda: trl_advantages(rewards, w, "normalize_then_sum")}
    for name in names():
        fns[name] = (lambda est: lambda: est(rewards, w))(get(name))
        if ref is not None and name in ref.names():
            fns[f"{name}@{ref_name}"] = (lambda est: lambda: est(rewards, w))(ref.get(name))
    inner = max(1, 2_000_000 // rewards.numel())  # keep each sample well above timer resolution
    inner = min(inner, 200)
    return summarise(time_calls(fns, repeats, inner, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--repeats", type=int, default=31,
                        help="timed rounds per shape (at least 6, for the per-round interval)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (default 1: steadier figures on a shared machine)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round order")
    parser.add_argument("--ref", metavar="COMMIT", help="also time the estimators as they were at this git commit")
    args = parser.parse_args()
    if args.repeats < 6:
        parser.error(f"--repeats {args.repeats}: use at least 6 rounds (fewer give no 95% interval for the "
                     "per-round ratio); the default is 31.")
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: use 1 or more.")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as into:
        ref = load_ref(args.ref, into) if args.ref else None
        report(args, ref)


def report(args, ref) -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"{args.repeats} rounds in shuffled order; cost = fastest round / TRL's fastest round")
    header = (f"{'(B, G, K)':<14}{'missing':>8}  {'estimator':<24}{'min (us)':>10}{'median':>10}{'cost/TRL':>10}"
              f"{'per-round / TRL [95%]':>24}{'cost/rc':>9}")
    print(header)
    print("-" * len(header))
    worst, dvao_rc, against_ref, slower = (0.0, ""), 0.0, [], []
    for shape, missing in [(s, m) for s in SHAPES for m in (0.0, 0.01)]:
        t = bench_shape(shape, missing, args.repeats, ref, args.ref or "", args.seed)
        where = f"{shape}, {missing:.0%} missing"
        for name, f in t.items():
            base, _, at = name.partition("@")
            med, lo, hi = f["per_round"]
            if name != BASELINE and not at:
                worst = max(worst, (f["cost"], f"{name} at {where}"))
                if lo > 1:
                    slower.append(f"{name} at {where}: {med:.2f} [{lo:.2f}, {hi:.2f}]")
            if name == "dvao":
                dvao_rc = max(dvao_rc, f["to_rc"])
            if at:
                against_ref.append((t[base]["min"] / f["min"], base, shape, missing))
            print(f"{str(shape):<14}{missing:>8.0%}  {name:<24}{f['min'] * 1e6:>10.1f}{f['median'] * 1e6:>10.1f}"
                  f"{f['cost']:>10.2f}{f'{med:.2f} [{lo:.2f}, {hi:.2f}]':>24}{f['to_rc']:>9.2f}")
    print(f"\nslowest estimator / TRL (cost): {worst[0]:.2f}, {worst[1]} (target <= 1.00);  "
          f"dvao / rc (cost), worst shape: {dvao_rc:.2f} (target <= 1.20)")
    print("slower than TRL under this run's load (whole per-round interval above 1): "
          + ("; ".join(slower) if slower else "none"))
    if against_ref:
        ratio, name, shape, missing = max(against_ref)
        print(f"now / {args.ref} (cost): from {min(against_ref)[0]:.2f} to {ratio:.2f} (the largest: {name} at "
              f"{shape}, {missing:.0%} missing)")


if __name__ == "__main__":
    main()
