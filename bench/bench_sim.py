"""Bandit simulator speed: GRPO updates per second at 256 contexts, G = 16, K = 4, and the estimator's share.

    .venv/bin/python bench/bench_sim.py [--rounds 15] [--inner 40] [--threads 1]

One update = sample G candidates for each of the 256 contexts, draw the K rewards, call the registry
estimator, one clipped-surrogate backward pass and an Adam step (workbench/sim/train.py: update).
Every estimator (and the MLP policy with DVAO) keeps its own policy and optimiser; timed rounds are
interleaved (rc, then the others, ``inner`` updates each per round) so machine load hits them alike;
the figure is the median over rounds. "cpu upd/s" counts process CPU time instead of wall time, which
other jobs on a shared machine inflate less. Baseline: rc (plain GRPO). Target (issue 7): >= 500 upd/s.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench.advantages import get, names
from workbench.sim.env import BanditSpec, make_bandit
from workbench.sim.policy import make_policy
from workbench.sim.train import UpdateSettings, make_optimizer, update

SPEC = BanditSpec(K=4, contexts=256, candidates=8)
G, TARGET, BASELINE = 16, 500.0, "rc"


def make_stepper(estimator: str, policy: str, bandit):
    """A closure doing one update with its own policy, optimiser and RNG; returns the estimator seconds."""
    torch.manual_seed(0)
    pol = make_policy(policy, bandit.features, SPEC.candidates)
    opt = make_optimizer("adam", pol.parameters(), 0.05)
    gen = torch.Generator().manual_seed(0)
    fn, w, settings = get(estimator), torch.full((SPEC.K,), 1.0 / SPEC.K), UpdateSettings(G=G)
    return lambda: update(pol, opt, bandit, fn, w, settings, gen).estimator_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--inner", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bandit = make_bandit(SPEC, 0)
    rows = {name: make_stepper(name, "tabular", bandit) for name in [BASELINE] + [n for n in names() if n != BASELINE]}
    rows["dvao (mlp policy)"] = make_stepper("dvao", "mlp", bandit)
    wall = {k: [] for k in rows}
    cpu = {k: [] for k in rows}
    share = {k: [] for k in rows}
    for step in rows.values():                       # warm-up
        for _ in range(10):
            step()
    for _ in range(args.rounds):
        for name, step in rows.items():
            t0, c0, est = time.perf_counter(), time.process_time(), 0.0
            for _ in range(args.inner):
                est += step()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            wall[name].append(args.inner / dt)
            cpu[name].append(args.inner / max(dc, 1e-9))
            share[name].append(est / dt)
    base = statistics.median(wall[BASELINE])
    print(f"bandit updates/s: C={SPEC.contexts}, N={SPEC.candidates}, G={G}, K={SPEC.K}, "
          f"threads={args.threads}, median of {args.rounds} rounds x {args.inner} updates")
    print(f"{'estimator':<20}{'upd/s':>9}{'cpu upd/s':>11}{'est. share':>12}{'vs rc':>8}{'vs 500':>8}")
    for name in rows:
        ups = statistics.median(wall[name])
        print(f"{name:<20}{ups:>9.0f}{statistics.median(cpu[name]):>11.0f}"
              f"{statistics.median(share[name]):>11.0%} {ups / base:>7.2f}{ups / TARGET:>8.2f}")


if __name__ == "__main__":
    main()
