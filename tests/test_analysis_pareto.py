"""Pareto functions on hand-made fronts with known answers, and `python -m analysis.pareto` end to end."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from analysis import frontier as F
from analysis import pareto, synthetic
from analysis.load import SkippedRunWarning, load_runs
from workbench.store import SUMMARY


def brute_nondominated(points):
    n = len(points)
    return np.array([not any(np.all(points[j] >= points[i]) and np.any(points[j] > points[i])
                             for j in range(n) if j != i) for i in range(n)])


def brute_hypervolume(points, ref):
    """Inclusion-exclusion over every subset: exact for a handful of points in any dimension."""
    points = [p for p in points if np.all(p > ref)]
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(points, size):
            corner = np.min(subset, axis=0)
            total += (-1) ** (size + 1) * np.prod(corner - ref)
    return total


def test_hand_made_front_and_its_hypervolume():
    pts = np.array([[0.2, 0.8], [0.5, 0.5], [0.8, 0.2], [0.4, 0.4], [0.5, 0.5], [0.1, 0.1]])
    assert F.nondominated(pts).tolist() == [True, True, True, False, True, False]
    # staircase area by hand: 0.2*0.8 + 0.3*0.5 + 0.3*0.2
    assert F.hypervolume(pts, np.zeros(2)) == pytest.approx(0.37)
    # only (0.5, 0.5) and (0.4, 0.4) beat ref (0.3, 0.3) on both axes; their union is 0.2 * 0.2
    assert F.hypervolume(pts, np.array([0.3, 0.3])) == pytest.approx(0.04)
    assert F.hypervolume(np.empty((0, 2)), np.zeros(2)) == 0.0
    assert F.hypervolume(np.array([[np.nan, 0.9], [0.5, 0.5]]), np.zeros(2)) == pytest.approx(0.25)


@pytest.mark.parametrize("seed", range(6))
def test_nondominated_and_hypervolume_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    dim = 2 + seed % 3
    pts = rng.random((9, dim)).round(1)          # rounding makes ties and duplicates likely
    ref = np.full(dim, 0.05)
    assert F.nondominated(pts).tolist() == brute_nondominated(pts).tolist()
    assert F.hypervolume(pts, ref) == pytest.approx(brute_hypervolume(pts, ref))


def test_dominated_by():
    front = np.array([[0.5, 0.5], [0.9, 0.1]])
    pts = np.array([[0.5, 0.5], [0.4, 0.5], [0.9, 0.05], [0.6, 0.2], [0.95, 0.0]])
    assert F.dominated_by(pts, front).tolist() == [False, True, True, False, False]
    assert F.dominated_by(pts, np.empty((0, 2))).tolist() == [False] * 5


def test_bootstrap_interval_covers_the_true_mean_about_as_often_as_promised():
    rng = np.random.default_rng(123)
    hits = 0
    trials = 300
    for t in range(trials):
        sample = rng.exponential(scale=2.0, size=40)  # skewed on purpose; true mean 2
        mean, lo, hi = F.bootstrap_ci(sample, n_boot=400, level=0.9, seed=t)
        assert lo <= mean <= hi
        hits += lo <= 2.0 <= hi
    assert 0.82 <= hits / trials <= 0.96, hits / trials


def test_bootstrap_edge_cases():
    assert F.bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    mean, lo, hi = F.bootstrap_ci([0.7])
    assert mean == 0.7 and np.isnan(lo) and np.isnan(hi)
    assert F.bootstrap_ci([1.0, 2.0, 3.0], seed=5) == F.bootstrap_ci([1.0, 2.0, 3.0], seed=5)
    with pytest.raises(ValueError, match="level"):
        F.bootstrap_ci([1.0, 2.0], level=95)


def test_reference_point_validation():
    assert F.reference_point(3).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="--ref needs one value per eval axis"):
        F.reference_point(2, [0.1, 0.2, 0.3])


def test_analyse_recovers_the_known_ordering(tmp_path):
    synthetic.write_sweep(tmp_path, methods=("rc", "ac", "gdpo", "dvao"), seeds=(0, 1, 2), steps=4)
    result = pareto.analyse(load_runs(tmp_path, steps=False).runs, n_boot=200)
    hv = result.hypervolume.set_index("method")
    assert list(hv.index) == ["rc", "ac", "gdpo", "dvao"]
    assert hv.hv_mean.is_monotonic_increasing          # radii 0.85 < 0.88 < 0.92 < 0.95
    # the noise-free sweep scaled by the method's radius squared bounds what noise can change
    unit = np.array([synthetic.true_point("dvao", w) for w in (0.1, 0.3, 0.5, 0.7, 0.9)])
    expected = F.hypervolume(unit, np.zeros(2))
    assert hv.loc["dvao", "hv_of_mean_front"] == pytest.approx(expected, abs=0.03)
    assert (hv.ci_lo <= hv.hv_mean).all() and (hv.hv_mean <= hv.ci_hi).all()
    dom = result.dominance.set_index(["method", "by"]).n_dominated
    assert dom["dvao", "any other"] == 0 and dom["rc", "dvao"] == 5 and dom["dvao", "rc"] == 0
    assert set(result.runs[result.runs.nondominated].method) == {"dvao"}


def test_cli_end_to_end_writes_consistent_tables_plots_and_report(tmp_path):
    runs = tmp_path / "runs"
    synthetic.write_sweep(runs, methods=("rc", "dvao", "single"), w0s=(0.2, 0.8), seeds=(0, 1), steps=4)
    synthetic.write_sweep(runs, methods=("rc", "dvao"), w0s=(0.2, 0.8), seeds=(0, 1), steps=4, task="tool")
    synthetic.write_run(runs, method="gdpo", status="failed", steps=4)
    out = tmp_path / "out"
    with pytest.warns(SkippedRunWarning, match="gdpo_w0.5_G8_s0 \\(status.json: failed"):
        pareto.main([str(runs), "--out", str(out), "--n-boot", "300"])
    table = pd.read_csv(runs.parent / "out" / "runs.csv")
    assert len(table) == 2 * 2 * 2 + 2 + 2 * 2 * 2 and "gdpo" not in set(table.method)
    hv = pd.read_csv(out / "hypervolume.csv")
    assert set(zip(hv.task, hv.method)) == {("math", "rc"), ("math", "dvao"), ("math", "single"),
                                            ("tool", "rc"), ("tool", "dvao")}
    # recompute one hypervolume from runs.csv by hand
    for (task, method), grp in table.groupby(["task", "method"]):
        per_seed = [F.hypervolume(g[["eval/accuracy", "eval/length_ok"]].to_numpy(), np.zeros(2))
                    for _, g in grp.groupby("seed")]
        row = hv[(hv.task == task) & (hv.method == method)].iloc[0]
        assert row.hv_mean == pytest.approx(np.mean(per_seed)) and row.n_seeds == 2
    dom = pd.read_csv(out / "dominance.csv")
    assert dom[(dom.task == "math") & (dom.method == "single") & (dom.by == "dvao")].n_dominated.item() == 1
    report = (out / "report.md").read_text()
    for task in ("math", "tool"):
        assert f"![fronts](front_{task}_tiny.png)" in report
        for ext in ("png", "pdf"):
            assert (out / f"front_{task}_tiny.{ext}").stat().st_size > 1000
            assert (out / f"hypervolume_{task}_tiny.{ext}").stat().st_size > 1000
    assert "| dvao |" in report and "| single |" in report


def test_cli_rejects_bad_input_with_a_message(tmp_path):
    synthetic.write_run(tmp_path / "runs", method="rc", steps=4)
    proc = subprocess.run([sys.executable, "-m", "analysis.pareto", str(tmp_path / "runs"), "--ref", "0", "0", "0",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--ref needs one value per eval axis (2)" in proc.stderr


def test_runs_differing_in_a_split_axis_are_analysed_separately(tmp_path):
    for G in (4, 16):
        synthetic.write_sweep(tmp_path, methods=("rc", "dvao"), w0s=(0.2, 0.8), seeds=(0, 1), steps=3, G=G)
    synthetic.write_sweep(tmp_path, methods=("rc",), w0s=(0.2, 0.8), seeds=(0,), steps=3, task="tool")
    result = pareto.analyse(load_runs(tmp_path, steps=False).runs, n_boot=100)
    assert sorted(result.axes) == ["math / tiny / G=16", "math / tiny / G=4", "tool / tiny"]
    hv = result.hypervolume
    assert len(hv) == 5 and (hv[hv.task == "math"].n_seeds == 2).all() and (hv[hv.task == "math"].n_weights == 2).all()
    assert set(hv[hv.task == "math"].G) == {4, 16}


def test_three_axes_give_pairwise_front_plots(tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"run": f"{m}-{w}-{s}", "path": "", "method": m, "task": "tool", "model": "tiny", "seed": s,
             "weights": f"{w},{1 - w}", "weight": w, "eval_axes": ("a", "b", "c"),
             **dict(zip(["eval/a", "eval/b", "eval/c"], rng.random(3)))}
            for m in ("ac", "gdpo") for w in (0.2, 0.8) for s in (0, 1)]
    result = pareto.analyse(pd.DataFrame(rows), n_boot=100)
    hv = result.hypervolume.set_index("method")
    for m in ("ac", "gdpo"):
        per_seed = [brute_hypervolume(np.array([[r[f"eval/{a}"] for a in "abc"] for r in rows
                                                if r["method"] == m and r["seed"] == s]), np.zeros(3)) for s in (0, 1)]
        assert hv.loc[m, "hv_mean"] == pytest.approx(np.mean(per_seed))
    paths = pareto.plot_fronts(result, "tool / tiny", tmp_path / "front")
    assert all((tmp_path / f"front.{e}").stat().st_size > 1000 for e in ("png", "pdf")) and len(paths) == 2


@pytest.mark.parametrize("args, message", [
    (["--n-boot", "0"], "--n-boot must be a positive number of bootstrap resamples"),
    (["--level", "95"], "--level must be a confidence level in (0, 1)"),
    (["--power", "1.5"], "--power must be in (0, 1)"),
    (["--out", "{file}"], "is a file, not a folder"),
    (["--out", "{file}/sub"], "is a file, not a folder"),
    (["--eafdiff", "dvao", "grpo"], "--eafdiff dvao grpo: no 2-D panel has runs of both; methods present: rc, dvao"),
    (["--eafdiff", "dvao", "dvao"], "--eafdiff needs two different methods"),
])
def test_cli_bad_settings_fail_before_anything_is_written(tmp_path, capsys, args, message):
    runs = tmp_path / "runs"
    synthetic.write_sweep(runs, methods=("rc", "dvao"), w0s=(0.3,), seeds=(0, 1), steps=2)
    (tmp_path / "a_file").write_text("keep me")
    args = [a.replace("{file}", str(tmp_path / "a_file")) for a in args]
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        pareto.main([str(runs), *(["--out", str(out)] if "--out" not in args else []), *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "a_file").read_text() == "keep me"


@pytest.mark.parametrize("root, message", [("", "the runs path is empty"), ("missing", "is not a directory"),
                                           (".", "no run directories")])
def test_cli_wrong_or_empty_root(tmp_path, capsys, root, message):
    (tmp_path / "empty").mkdir()
    path = root if root == "" else str(tmp_path / "empty" / root)
    with pytest.raises(SystemExit):
        pareto.main([path, "--out", str(tmp_path / "out")])
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_cli_eafdiff_pair_and_nan_runs_left_out_with_a_warning(tmp_path):
    runs = tmp_path / "runs"
    synthetic.write_sweep(runs, methods=("rc", "ac", "dvao"), w0s=(0.3, 0.7), seeds=(0, 1), steps=2)
    nan_run = synthetic.write_run(runs, method="ac", w0=0.5, seed=0, steps=2)
    summary = json.loads((nan_run / SUMMARY).read_text())
    (nan_run / SUMMARY).write_text(json.dumps({**summary, "eval/accuracy": None}))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="ignoring 1 runs with a missing \\(NaN\\) eval metric: .*ac_w0.5_G8_s0"):
        result = pareto.main([str(runs), "--out", str(out), "--n-boot", "100", "--eafdiff", "ac", "rc"])
    assert result.eafdiff == {"math / tiny": ("ac", "rc")}
    assert (out / "eafdiff_math_tiny_ac_vs_rc.png").stat().st_size > 1000
    seeds = pd.read_csv(out / "seed_hypervolume.csv")
    assert list(seeds.columns[:4]) == ["panel", "method", "seed", "hypervolume"]
    assert seeds[(seeds.method == "ac")].n_points.tolist() == [2, 2]      # the NaN run counts nowhere
    report = (out / "report.md").read_text()
    assert "left out for a missing (NaN) eval value: `math/tiny/synthetic/ac_w0.5_G8_s0`" in report
    for name in ("improvement", "aggregate", "profile", "eaf"):
        assert len(pd.read_csv(out / f"{name}.csv"))
    assert "### What the seeds can tell apart" in report and "![eaf](eaf_math_tiny.png)" in report
    with pytest.warns(UserWarning, match="missing \\(NaN\\)"):
        default = pareto.analyse(load_runs(runs, steps=False).runs, n_boot=50)
    assert default.eafdiff == {"math / tiny": ("dvao", "ac")}        # dvao against its strongest rival
