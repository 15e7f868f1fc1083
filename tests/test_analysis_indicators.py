"""analysis.indicators: IGD+ and additive epsilon by hand, the known-front hook (summary.json key and per-task
registry), and the bandit's front rebuilt from a run's config."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis import indicators as I
from analysis import pareto, synthetic
from analysis.load import load_runs
from workbench.store import SUMMARY


def test_igd_plus_and_epsilon_by_hand():
    front = I._densify(np.array([[0.0, 1.0], [1.0, 0.0]]), spacing=0.01)     # the line x + y = 1
    assert len(front) == 1 + int(np.ceil(np.sqrt(2) / 0.01)) and np.allclose(front.sum(axis=1), 1.0)
    assert I.indicators(front, front) == pytest.approx({"igd_plus": 0.0, "epsilon_additive": 0.0}, abs=1e-12)
    shifted = front - 0.1                       # every point 0.1 short on both axes
    got = I.indicators(shifted, front)
    assert got["epsilon_additive"] == pytest.approx(0.1)
    # the nearest shortfall of a front point r is r - (r - 0.1) = (0.1, 0.1), except near the ends where a
    # shifted point past r on one axis only falls short on the other: brute force over the pairs
    d = np.sqrt((np.clip(front[:, None, :] - shifted[None, :, :], 0, None) ** 2).sum(-1)).min(axis=1).mean()
    assert got["igd_plus"] == pytest.approx(d) and 0.1 < got["igd_plus"] < 0.1 * np.sqrt(2)
    one = I.indicators(np.array([[0.5, 0.5], [np.nan, 1.0]]), front)      # the NaN row is ignored
    assert one["epsilon_additive"] == pytest.approx(0.5)
    assert np.isnan(I.indicators(np.full((1, 2), np.nan), front)["igd_plus"])


def test_registry_refuses_a_second_front_for_a_task():
    with pytest.raises(ValueError, match="already registered for task 'bandit'"):
        I.register_front("bandit")(lambda run: None)


def test_a_front_in_summary_json_gives_indicators_in_the_report(tmp_path):
    runs = tmp_path / "runs"
    synthetic.write_sweep(runs, methods=("rc", "dvao"), w0s=(0.2, 0.8), seeds=(0, 1), steps=2)
    quarter = np.array([[np.sin(t), np.cos(t)] for t in np.linspace(0, np.pi / 2, 200)])   # radius 1: beyond both
    for path in runs.rglob(SUMMARY):
        summary = json.loads(path.read_text())
        path.write_text(json.dumps({**summary, "known_front": quarter.tolist()}))
    result = pareto.main([str(runs), "--out", str(tmp_path / "out"), "--n-boot", "200"])
    table = pd.read_csv(tmp_path / "out" / "indicators.csv")
    assert len(table) == 4 and (table.n_points == 2).all() and table.hv_frac.isna().all()
    for row in table.itertuples():
        pts = result.runs[(result.runs.method == row.method) & (result.runs.seed == row.seed)]
        expected = I.indicators(pts[["eval/accuracy", "eval/length_ok"]].to_numpy(), quarter)
        assert row.igd_plus == pytest.approx(expected["igd_plus"])
        assert row.epsilon_additive == pytest.approx(expected["epsilon_additive"])
    # dvao's radius 0.95 lies closer to the unit front than rc's 0.85, on both indicators
    mean = table.groupby("method")[["igd_plus", "epsilon_additive"]].mean()
    assert (mean.loc["dvao"] < mean.loc["rc"]).all()
    assert "### Against the known front" in (tmp_path / "out" / "report.md").read_text()


def test_a_bandit_front_that_cannot_be_rebuilt_warns_and_gives_no_indicators(tmp_path):
    path = synthetic.write_run(tmp_path, method="rc", task="bandit", steps=2)   # its config has no bandit keys
    run = load_runs(tmp_path, steps=False).runs.iloc[0]
    with pytest.warns(UserWarning, match=f"{path / 'config.yaml'}: cannot rebuild the bandit's front"):
        assert I.known_front(run) is None


def test_bandit_front_with_three_objectives_holds_its_extreme_vertices(tmp_path):
    import moocore
    import yaml

    from workbench.sim.env import make_bandit
    from workbench.sim.front import ideal_point
    from workbench.sim.runner import parse_task

    task = {"name": "bandit", "kind": "bandit", "K": 3, "contexts": 8}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"task": task, "seed": 3}))
    front = I.bandit_front(pd.Series({"task": "bandit", "path": str(tmp_path)}))
    assert front.shape[1] == 3 and len(front) >= 3
    assert moocore.is_nondominated(front, maximise=True).all()
    env, _ = parse_task(task)
    assert front.max(axis=0) == pytest.approx(ideal_point(make_bandit(env, 3).means))
