"""End to end for the newer methods: `workbench.run.run` on the bandit (every new conf/method, seconds)
and one tiny LLM run per new method, alternating the math and tool tasks (a few seconds each)."""
from __future__ import annotations

import math

import pytest
import torch

from tests.test_run_support import fast_cfg, records
from tests.test_sim_run import bandit_cfg
from workbench import metrics as M
from workbench import store

NEW = ["gd2po", "rdpo", "mo_grpo", "rc_shrink", "dvao_shrink", "dvao_shrink_ema"]


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("method", NEW)
def test_bandit_run_per_new_method(tmp_path, method):
    from workbench.run import run

    summary = run(bandit_cfg(tmp_path, f"method={method}", "task.K=3", "G=4", "steps=40"))
    assert store.is_done(tmp_path) and summary["method"] == method and summary["step"] == 40
    steps = records(tmp_path / store.METRICS)
    assert all(math.isfinite(r[M.ADV_SQ_MEAN]) and r[M.ADV_ABS_MAX] > 0 for r in steps)
    assert 0 < summary[M.eval_metric("hv_frac")] <= 1 + 1e-9 and summary[M.eval_metric("regret")] >= 0


LLM = [("gd2po", "tool"), ("rdpo", "math"), ("mo_grpo", "tool"), ("rc_shrink", "math"), ("dvao_shrink", "tool")]


@pytest.mark.parametrize("method, task", LLM, ids=[f"{m}-{t}" for m, t in LLM])
def test_llm_smoke_run_per_new_method(tmp_path, method, task):
    """dvao_shrink_ema's LLM run is tests/test_trainer.py's state test."""
    from workbench.run import run

    run_dir = tmp_path / method
    summary = run(fast_cfg(run_dir, f"method={method}", f"task={task}"))
    assert store.read_status(run_dir)["status"] == "done" and summary["method"] == method
    steps = records(run_dir / store.METRICS)
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        assert math.isfinite(r[M.LOSS]) and math.isfinite(r[M.ADV_SQ_MEAN])
        for objective in summary["objectives"]:
            assert M.weight(objective) in r
    # a nonzero gradient on some step (a step whose groups are all constant has none, for any method)
    assert any(r[M.GRAD_NORM] > 0 for r in steps) or all(r[M.ADV_ABS_MAX] == 0 for r in steps)
