"""`python -m workbench.run task=bandit ...` end to end: the run store, summary.json contract and metric keys."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from workbench import metrics as M
from workbench import store
from tests.test_run_support import records

CONF = Path(__file__).resolve().parents[1] / "conf"


def bandit_cfg(run_dir: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=["task=bandit", "logger=none", "steps=30", "eval.every=10",
                                                        f"run_dir={run_dir}", *overrides])


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("method", ["dvao", "single"])
def test_bandit_run_writes_the_store_contract(tmp_path, method):
    from workbench.run import run

    summary = run(bandit_cfg(tmp_path, f"method={method}", "task.K=3", "G=4", "sweep=sim-test"))
    assert store.is_done(tmp_path)
    on_disk = json.loads((tmp_path / store.SUMMARY).read_text())
    assert on_disk["method"] == method and on_disk["task"] == "bandit" and on_disk["K"] == 3
    assert on_disk["G"] == 4 and on_disk["sweep"] == "sim-test" and on_disk["step"] == 30
    assert on_disk["objectives"] == on_disk["eval_axes"] == ["obj1", "obj2", "obj3"]
    assert on_disk["correlation"] == "conflicting" and on_disk["aux_noise"] == 0.0   # axes for analysis
    expected_w = [1.0, 0.0, 0.0] if method == "single" else pytest.approx([1 / 3] * 3)
    assert on_disk["weights"] == expected_w
    for key in ("obj1", "obj2", "obj3", "hv_frac", "front_distance", "regret"):
        assert M.eval_metric(key) in on_disk and on_disk[M.eval_metric(key)] == pytest.approx(summary[M.eval_metric(key)])
    steps = records(tmp_path / store.METRICS)
    assert [r["step"] for r in steps] == [10, 20, 30]
    assert set(M.per_objective_keys(["obj1", "obj2", "obj3"])) <= set(steps[-1])
    assert [r["step"] for r in records(tmp_path / store.EVAL)] == [10, 20, 30]
    if method == "dvao":
        # logged over the groups where w~ is defined (some spread), so the weights sum to 1
        total = sum(steps[-1][M.weight(o)] for o in ("obj1", "obj2", "obj3"))
        assert total == pytest.approx(1.0, abs=1e-5)


def test_bad_bandit_key_fails_before_training(tmp_path):
    from workbench.run import run

    with pytest.raises(ValueError, match="task.colour"):
        run(bandit_cfg(tmp_path, "+task.colour=red"))
    with pytest.raises(ValueError, match="weights"):
        run(bandit_cfg(tmp_path / "w", "weights=[1,2,3]"))
    assert not (tmp_path / "w" / store.METRICS).exists()
