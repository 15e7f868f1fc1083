"""The sweep findings (workbench/sim/report.py) on hand-made run tables with known winners."""
from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sim.report import levels, markdown, paired_diff_ci, summarise


def _runs(gap: float) -> pd.DataFrame:
    """Two methods x 5 seeds at two G levels; method b is worse by ``gap`` on seed-shared noise."""
    rng = np.random.default_rng(0)
    rows = []
    for G in (4, 2):
        base = rng.normal(1.0, 0.3, size=5)                       # bandit-to-bandit spread, shared by methods
        for seed, b in enumerate(base):
            rows += [dict(method="a", G=G, seed=seed, m=b), dict(method="b", G=G, seed=seed, m=b + gap)]
    return pd.DataFrame(rows)


def test_paired_interval_sees_a_small_shift_through_large_seed_noise():
    runs = _runs(0.01)
    t = runs[runs.G == 2].pivot_table(index="seed", columns="method", values="m")
    d, lo, hi = paired_diff_ci(t["b"], t["a"])
    assert abs(d - 0.01) < 1e-12
    assert lo > 0 and hi > 0                                       # paired: the shift is clear
    s = summarise(runs, "G", "m", higher=False)
    assert list(s["level"].unique()) == [2, 4] == levels(runs, "G")
    win = s[s["winner"]]
    assert set(win["method"]) == {"a"} and win["clear"].all()


def test_no_clear_winner_when_methods_tie_and_markdown_marks_best():
    s = summarise(_runs(0.0), "G", "m", higher=True)
    assert not s["clear"].any()
    text = markdown(s, "G", "title")
    assert text.startswith("title") and "| G | a | b |" in text and text.count("**") == 4
