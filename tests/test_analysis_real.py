"""The analysis commands on run directories written by real `workbench.run` runs: bandit runs (seconds)
for the sweep, one tiny-model math run (a few LLM steps), and one run marked failed after the fact."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis import ablation, pareto, stability
from analysis.load import SkippedRunWarning, load_runs
from workbench import metrics as M
from workbench.store import FAILED, RunStore

BANDIT = ["task=bandit", "steps=20", "logger=none", "threads=1", "sweep=real"]


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, tiny_cache):
    from tests.test_run_support import compose_cfg, fast_cfg
    from workbench.run import run

    root = tmp_path_factory.mktemp("real") / "runs"
    for method in ("rc", "dvao"):
        for w0 in (0.3, 0.7):
            for seed in (0, 1):
                run(compose_cfg(BANDIT + [f"method={method}", f"weights=[{w0},{1 - w0:.1f}]", f"seed={seed}",
                                          f"run_dir={root}/bandit/{method}-w{w0}-s{seed}"]))
    run(fast_cfg(root / "math" / "dvao-s0", "method=dvao"))
    shutil.copytree(root / "bandit" / "rc-w0.3-s0", root / "bandit" / "crashed")
    RunStore(root / "bandit" / "crashed").set_status(FAILED, step=10, error="KeyboardInterrupt")
    return root


def test_load_real_runs(real_runs):
    with pytest.warns(SkippedRunWarning, match="bandit/crashed \\(status.json: failed at step 10: KeyboardInterrupt\\)"):
        tables = load_runs(real_runs)
    runs = tables.runs
    assert len(runs) == 9 and set(runs.task) == {"bandit", "math"}
    assert set(runs[runs.task == "bandit"].weights) == {"0.3,0.7", "0.7,0.3"}
    assert runs[["eval/obj1", "eval/obj2"]].dropna().shape == (8, 2)
    assert set(tables.steps.run) == set(runs.run)
    math_steps = tables.steps[tables.steps.run == "math/dvao-s0"]
    assert math_steps[M.STEP].tolist() == [1, 2] and math_steps[M.GRAD_NORM].notna().all()


def test_pareto_on_real_runs(real_runs, tmp_path):
    with pytest.warns(SkippedRunWarning):
        result = pareto.main([str(real_runs), "--out", str(tmp_path), "--n-boot", "200"])
    hv = pd.read_csv(tmp_path / "hypervolume.csv")
    assert set(zip(hv.task, hv.method)) == {("bandit", "rc"), ("bandit", "dvao"), ("math", "dvao")}
    bandit = hv[hv.task == "bandit"]
    assert (bandit.n_seeds == 2).all() and (bandit.n_weights == 2).all()
    assert ((bandit.hv_mean > 0) & (bandit.hv_mean < 1)).all()
    one = hv[hv.task == "math"].iloc[0]
    assert one.n_seeds == 1 and np.isnan(one.ci_lo)           # one seed: no interval, said so
    runs = result.runs[result.runs.task == "bandit"]
    assert runs.nondominated.any() and not runs.nondominated.all()
    report = (tmp_path / "report.md").read_text()
    assert "## bandit / tabular" in report and "## math / tiny" in report
    assert (tmp_path / "front_bandit_tabular.png").exists() and (tmp_path / "front_math_tiny.pdf").exists()
    assert "### Against the known front" in report and "eafdiff_bandit_tabular_dvao_vs_rc.png" in report


def test_bandit_runs_are_scored_against_their_exact_front(real_runs, tmp_path):
    """IGD+ / epsilon per (method, seed) against the front of the bandit that seed drew, rebuilt here
    straight from workbench.sim and scored with the formulas written out (moocore is what the CSV used)."""
    import yaml

    from analysis.indicators import _densify
    from workbench.sim import front as SF
    from workbench.sim.env import make_bandit
    from workbench.sim.runner import parse_task

    with pytest.warns(SkippedRunWarning):
        result = pareto.main([str(real_runs), "--out", str(tmp_path), "--n-boot", "200"])
    table = pd.read_csv(tmp_path / "indicators.csv")
    assert sorted(zip(table.method, table.seed)) == [("dvao", 0), ("dvao", 1), ("rc", 0), ("rc", 1)]
    assert set(table.panel) == {"bandit / tabular"} and (table.n_points == 2).all()
    runs = result.runs[result.runs.task == "bandit"]
    for row in table.itertuples():
        mine = runs[(runs.method == row.method) & (runs.seed == row.seed)]
        cfg = yaml.safe_load((real_runs / mine.run.iloc[0] / "config.yaml").read_text())
        env, _ = parse_task(dict(cfg["task"]))
        front = _densify(SF.front_2d(make_bandit(env, row.seed).means))
        pts = mine[["eval/obj1", "eval/obj2"]].to_numpy()
        short = np.clip(front[:, None, :] - pts[None, :, :], 0, None)          # (F, N, 2) shortfalls
        assert row.igd_plus == pytest.approx(np.sqrt((short ** 2).sum(-1)).min(axis=1).mean())
        assert row.epsilon_additive == pytest.approx(short.max(-1).min(axis=1).max())
        assert row.hv_frac == pytest.approx(mine["eval/hv_frac"].mean())
        assert 0 < row.igd_plus < row.epsilon_additive * np.sqrt(2) + 1e-12


def test_stability_and_ablation_on_real_runs(real_runs, tmp_path):
    with pytest.warns(SkippedRunWarning):
        curves = stability.main([str(real_runs), "--out", str(tmp_path / "st"), "--weights", "0.3,0.7"])
    dvao = curves[(curves.method == "dvao") & curves.metric.str.startswith(M.WEIGHT + "/")]
    total = dvao.groupby(M.STEP)["mean"].sum()
    assert ((total > 0.5) & (total <= 1 + 1e-6)).all()       # w~ sums to 1 per group (0 in all-constant groups)
    assert {M.reward_mean("obj1"), M.group_std("obj2"), M.ADV_SQ_MEAN} <= set(curves.metric)
    with pytest.warns(SkippedRunWarning):
        table = ablation.main([str(real_runs), "--by", "weight", "--out", str(tmp_path / "ab")])
    bandit = table[(table.task == "bandit") & (table.metric == "eval/obj1")]
    assert len(bandit) == 4 and (bandit.n_seeds == 2).all()
    assert bandit.groupby("weight").best.sum().tolist() == [1, 1]
