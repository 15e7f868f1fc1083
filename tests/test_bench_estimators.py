"""The estimator benchmark's statistics (bench/bench_estimators.py): what the targets are judged on must
be right before any figure from it is."""
from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path

import pytest

from workbench.advantages import names

SPEC = importlib.util.spec_from_file_location("bench_estimators",
                                              Path(__file__).resolve().parents[1] / "bench" / "bench_estimators.py")
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def test_median_interval_covers_the_median_at_its_level():
    rng = random.Random(0)
    median = math.log(2)                         # of the unit exponential, a skewed timing-like law
    trials = 2000
    hits = 0
    for _ in range(trials):
        _, lo, hi = bench.median_interval([rng.expovariate(1.0) for _ in range(31)])
        hits += lo <= median <= hi
    assert 0.95 <= hits / trials <= 0.995        # exact order-statistic coverage at n = 31 is 0.971


def test_median_interval_order_statistics_and_too_few_values():
    med, lo, hi = bench.median_interval([float(i) for i in range(31)])
    assert (med, lo, hi) == (15.0, 9.0, 21.0)    # P(Bin(31, 1/2) <= 9) = 0.0147 <= 0.025 < P(<= 10)
    med, lo, hi = bench.median_interval([3.0, 1.0, 2.0, 5.0, 4.0])
    assert med == 3.0 and math.isnan(lo) and math.isnan(hi)


def test_time_calls_runs_each_fn_equally_in_shuffled_orders():
    calls: list[str] = []
    fns = {name: (lambda n: lambda: calls.append(n))(name) for name in "abcd"}
    samples = bench.time_calls(fns, repeats=12, inner=2, seed=1)
    assert {n: len(s) for n, s in samples.items()} == dict.fromkeys("abcd", 12)
    assert all(calls.count(n) == 3 + 12 * 2 for n in "abcd")
    timed = calls[4 * 3:]                                    # after the warm-up calls
    rounds = [tuple(timed[i:i + 8:2]) for i in range(0, len(timed), 8)]
    assert all(sorted(r) == list("abcd") for r in rounds) and len(set(rounds)) > 1


def test_summarise_judges_cost_on_the_fastest_rounds_and_pairs_rounds():
    trl = [10.0, 12.0, 11.0, 30.0, 10.5, 11.5, 13.0]
    est = [5.0, 6.0, 20.0, 14.0, 25.0, 5.5, 26.0]           # three rounds hit by load
    samples = {bench.BASELINE: trl, "rc": [4.0] * 7, "rdpo": est}
    s = bench.summarise(samples)
    assert s["rdpo"]["cost"] == pytest.approx(5.0 / 10.0)
    assert s["rdpo"]["to_rc"] == pytest.approx(5.0 / 4.0)
    ratios = sorted(e / t for e, t in zip(est, trl))
    assert s["rdpo"]["per_round"][0] == pytest.approx(ratios[3])
    assert s[bench.BASELINE]["per_round"][1:] == (1.0, 1.0)


def test_bench_shape_times_every_estimator_against_trl():
    s = bench.bench_shape((4, 4, 2), 0.1, repeats=6)
    assert set(s) == {bench.BASELINE, *names()}
    assert s[bench.BASELINE]["cost"] == 1.0 and s["rc"]["to_rc"] == 1.0
    for f in s.values():
        med, lo, hi = f["per_round"]
        assert f["min"] > 0 and f["median"] >= f["min"] and lo <= med <= hi
