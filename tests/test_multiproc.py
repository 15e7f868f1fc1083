"""Two real processes (torchrun --standalone --nproc_per_node 2, gloo on CPU) through `workbench.run`:
an intact run directory, every rank's loss on exactly its slice of the estimator's advantages on the
gathered rewards (with a group split across the ranks), and each evaluation done once between them."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.test_run_support import records
from workbench import advantages, store

WEIGHTS = [0.7, 0.3]
# 3 prompts x G=4 = 12 completions per step, 6 per rank: the middle group straddles the two ranks.
ARGS = ["method=dvao", "weights=[0.7,0.3]", "G=4", "steps=3", "train.prompts_per_step=3", "train.save_every=3",
        "eval.every=2", "eval.batch_size=3", "++task.eval.n_prompts=8", "++task.eval.n_samples=1",
        "logger=wandb", "logger.mode=offline", "threads=1"]
EVAL_STEPS = [0, 2, 3]


def torchrun(cwd: Path, run_dir: Path, spy_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "multiproc_driver.py"), str(spy_dir), *ARGS, f"run_dir={run_dir}", *extra]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def assert_intact(run_dir: Path) -> None:
    """What a finished run directory must hold, whatever the number of processes."""
    status = store.read_status(run_dir)
    assert status["status"] == "done" and status["step"] == 3, status
    assert "method:" in (run_dir / store.CONFIG).read_text()
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [1, 2, 3]  # no step logged twice
    assert [r["step"] for r in records(run_dir / store.EVAL)] == EVAL_STEPS  # one record per evaluation
    summary = json.loads((run_dir / store.SUMMARY).read_text())
    assert summary["step"] == 3 and summary["weights"] == WEIGHTS
    assert len(glob.glob(str(run_dir / "wandb" / "offline-run-*"))) == 1  # one W&B run, from rank 0


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, tiny_math_dir):
    tmp = tmp_path_factory.mktemp("multiproc")
    done = torchrun(tmp, tmp / "run", tmp / "spy")
    assert done.returncode == 0, done.stderr[-4000:]
    spies = [json.loads((tmp / "spy" / f"rank{r}.json").read_text()) for r in range(2)]
    return tmp, spies


def test_two_processes_leave_one_intact_run_directory(two_ranks):
    tmp, _ = two_ranks
    assert_intact(tmp / "run")
    launches = list((tmp / "outputs" / "torchrun").iterdir())  # Hydra's folder: one per launch, not per rank's clock
    assert len(launches) == 1 and [p.name for p in (tmp / "outputs").iterdir()] == ["torchrun"]
    assert sorted(p.name for p in launches[0].glob("*.log")) == ["run.log", "run.rank1.log"]


def test_each_rank_trains_on_its_slice_of_the_gathered_estimate(two_ranks):
    _, spies = two_ranks
    gens = [s["generations"] for s in spies]
    assert len(gens[0]) == len(gens[1]) == 3  # one generation batch per step
    for rank, spy in enumerate(spies):
        losses = spy["losses"]
        for step, gen in enumerate(spy["generations"]):
            assert gen["process_index"] == rank
            rewards = torch.tensor(gen["rewards"])
            assert rewards.shape == (3, 4, 2) and gen["rewards"] == gens[1 - rank][step]["rewards"]  # gathered
            expected = advantages.get("dvao")(rewards, torch.tensor(WEIGHTS)).advantages.reshape(-1)
            mine = expected[rank * 6:(rank + 1) * 6]
            assert torch.equal(torch.tensor(gen["advantages"]), mine)
            seen = sorted(a for loss in losses if loss["step"] == gen["step"] for a in loss["advantages"])
            assert seen == sorted(mine.tolist())  # what reached this rank's loss (TRL shuffles rows)
    assert any(torch.tensor(g["advantages"]).abs().sum() > 0 for g in gens[0] + gens[1])  # could have failed


def test_each_evaluation_ran_once_across_the_ranks(two_ranks):
    _, spies = two_ranks
    evals = [s["eval"] for s in spies]
    assert len(evals[0]) == len(evals[1]) == len(EVAL_STEPS)
    for ours, theirs in zip(*evals):
        assert ours["world"] == theirs["world"] == 2 and ours["rows"] == theirs["rows"] == 8
        assert sorted(ours["chunks"] + theirs["chunks"]) == [0, 1, 2]  # 8 rows in chunks of 3, each once
        assert ours["completions"] + theirs["completions"] == 8


@pytest.mark.slow
def test_three_fresh_two_process_runs_in_a_row(tmp_path, tiny_math_dir):
    for i in range(3):
        done = torchrun(tmp_path, tmp_path / f"run{i}", tmp_path / f"spy{i}")
        assert done.returncode == 0, done.stderr[-4000:]
        assert_intact(tmp_path / f"run{i}")


@pytest.mark.slow
def test_a_two_task_submitit_job_is_one_two_process_run(tmp_path, tiny_math_dir):
    """The SLURM launchers' code path, on submitit's local executor: one job of 2 tasks, torch.distributed
    set up from submitit's variables (workbench.distributed.export_submitit_env), one run, one job record."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "workbench.run", "-m", "hydra/launcher=submitit_cpu", "hydra.launcher.tasks_per_node=2",
           f"hydra.sweep.dir={tmp_path / 'sweep'}", *ARGS, f"run_dir={tmp_path / 'run'}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert_intact(tmp_path / "run")
    jobs = records(tmp_path / "sweep" / "jobs.jsonl")
    assert [j["outcome"] for j in jobs] == ["done"]  # task 1 is not a second job
    logs = sorted(p.name for p in (tmp_path / "sweep" / "0").glob("*.log"))
    assert logs == ["run.log", "run.rank1.log"]
    rank1 = (tmp_path / "sweep" / "0" / "run.rank1.log").read_text()
    assert "step 3/3" in rank1  # the second task trained too, in the same process group
