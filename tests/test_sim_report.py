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
    text = markdown(s, "G", "title")       # clear on these seeds is marked †; * is kept for "confirmed"
    assert text.count("**†") == 2 and "*" not in text.replace("**", "")


def test_no_clear_winner_when_methods_tie_and_markdown_marks_best():
    s = summarise(_runs(0.0), "G", "m", higher=True)
    assert not s["clear"].any()
    text = markdown(s, "G", "title")
    assert text.startswith("title") and "| G | a | b |" in text and text.count("**") == 4


def test_variant_table_compares_with_dvao_and_the_best_of_the_four():
    from workbench.sim.report import variant_gaps

    rng = np.random.default_rng(1)
    rows = []
    for seed, base in enumerate(rng.normal(1.0, 0.3, size=6)):
        for method, shift in [("rc", 0.3), ("ac", 0.1), ("gdpo", 0.2), ("dvao", 0.25), ("dvao_shrink", 0.05)]:
            rows.append(dict(method=method, G=4, seed=seed, m=base + shift))
    table = variant_gaps(pd.DataFrame(rows), "G", "m", higher=False)
    lines = table.splitlines()
    assert lines[0].startswith("| G | variant | minus dvao |") and len(lines) == 3
    # dvao_shrink is 0.20 below dvao and 0.05 below ac (the best of the four), on every seed: both clear
    assert lines[2].startswith("| 4 | dvao_shrink | -0.20000 [-0.20000, -0.20000]† | ac | -0.05000 [-0.05000, -0.05000]† |")


def test_dvao_poi_counts_paired_wins_for_a_lower_is_better_metric():
    from workbench.sim.report import dvao_poi

    runs = _runs(0.01).replace({"method": {"a": "dvao", "b": "rc"}})   # rc 0.01 worse on every seed
    lines = dvao_poi(runs, "G", "m", higher=False).splitlines()
    assert lines[0] == "| G | P(dvao beats rc) |" and len(lines) == 4
    assert lines[2] == "| 2 | 1.00 (5/5, p 0.062) |" and lines[3] == "| 4 | 1.00 (5/5, p 0.062) |"
    flipped = dvao_poi(runs, "G", "m", higher=True).splitlines()
    assert flipped[2] == "| 2 | 0.00 (0/5, p 0.062) |"
    tied = dvao_poi(_runs(0.0).replace({"method": {"a": "dvao", "b": "rc"}}), "G", "m", higher=False)
    assert tied.splitlines()[2] == "| 2 | 0.50 (2.5/5, equal on every seed) |"
