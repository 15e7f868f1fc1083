"""Sweeps (issue 5): every sweep composes; real multiruns with the local and submitit-local launchers;
re-running skips finished runs; one failing job neither stops the others nor goes unreported."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT
from workbench import store
from workbench.sweep import JOBS_FILE, read_jobs, tally
from workbench.train import config as C

SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
# Paper-scale sweeps need a real data file on the cluster: the value is mandatory (???) on purpose.
REQUIRED = {"math_paper": ["task.data.path=/data/dapo.parquet"], "tool_paper": ["task.data.path=/data/rlla.json"]}


def compose_sweep(name: str, overrides: list[str] = ()):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", return_hydra_config=True,
                       overrides=[f"hydra.searchpath=[file://{ROOT}]", f"+sweeps={name}", *overrides])


def test_sweep_files_exist_with_their_command_on_top():
    assert {"math", "tool", "ablate-G", "ablate-K", "ablate-noise", "models"} <= set(SWEEPS)
    for name in SWEEPS:
        head = (ROOT / "sweeps" / f"{name}.yaml").read_text().splitlines()[:2]
        assert head[0] == "# @package _global_", name
        assert f"+sweeps={name}" in head[1], f"sweeps/{name}.yaml: line 2 must be the command that runs it"


@pytest.mark.parametrize("name", SWEEPS)
def test_every_sweep_composes_and_validates(name):
    cfg = compose_sweep(name, REQUIRED.get(name, []))
    params = cfg.hydra.sweeper.params
    assert params, f"{name}: a sweep must sweep something"
    assert cfg.sweep == name, "the sweep name is the W&B group and the run-store folder"
    launcher = cfg.hydra.launcher._target_
    assert launcher.endswith(("JoblibLauncher", "SlurmLauncher", "LocalLauncher")), launcher
    # The first point of the grid must pass the same validation a job runs before loading a model.
    first = {k: str(v).split(",")[0] if not str(v).startswith("[") else str(v).split("],")[0] + "]"
             for k, v in params.items()}
    job = compose_sweep(name, REQUIRED.get(name, []) + [f"{k}={v}" for k, v in first.items()])
    HydraConfig.instance().set_config(job)  # run_dir may use ${hydra:job.override_dirname}
    job_cfg = OmegaConf.masked_copy(job, [k for k in job.keys() if k != "hydra"])
    C.load(job_cfg)


def test_slurm_launcher_config_carries_cluster_settings():
    cfg = compose_sweep("math_paper", REQUIRED["math_paper"] + ["hydra.launcher.partition=a100",
                                                                "hydra.launcher.timeout_min=90"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.gpus_per_node) == ("a100", 90, 8)
    assert launcher.tasks_per_node == launcher.gpus_per_node  # one process per GPU (tests/test_launch.py)
    assert launcher.mem_gb > 0 and "submitit" in launcher.submitit_folder
    assert cfg.model.name == "qwen3-4b-base" and cfg.G == 16 and cfg.steps == 500


def sweep_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}


def multirun_cmd(tmp: Path, *overrides: str, launcher: str = "local") -> list[str]:
    return [sys.executable, "-m", "workbench.run", "-m", f"hydra/launcher={launcher}", "logger=none", "threads=1",
            f"hydra.sweep.dir={tmp / 'sweep'}", f"run_dir={tmp}/runs/" + "${method.name}-G${G}-s${seed}", *overrides]


def multirun(tmp: Path, *overrides: str, launcher: str = "local") -> subprocess.CompletedProcess:
    return subprocess.run(multirun_cmd(tmp, *overrides, launcher=launcher), cwd=ROOT, env=sweep_env(),
                          capture_output=True, text=True, timeout=600)


def bandit(*extra: str) -> list[str]:
    return ["task=bandit", "steps=20", "task.contexts=32", "sweep=smoke", *extra]


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_local_sweep_runs_then_rerun_skips_finished(tmp_path):
    done = multirun(tmp_path, *bandit("method=rc,dvao", "seed=0,1", "resume=true"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 finished, 0 skipped (already done), 0 failed" in done.stdout
    runs = sorted((tmp_path / "runs").iterdir())
    assert [r.name for r in runs] == ["dvao-G8-s0", "dvao-G8-s1", "rc-G8-s0", "rc-G8-s1"]
    assert all(store.is_done(r) for r in runs)
    summary = json.loads((runs[0] / store.SUMMARY).read_text())
    assert summary["method"] == "dvao" and summary["sweep"] == "smoke"

    mtimes = {r.name: (r / store.SUMMARY).stat().st_mtime for r in runs}
    again = multirun(tmp_path, *bandit("method=rc,dvao", "seed=0,1", "resume=true"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 finished, 4 skipped (already done), 0 failed" in again.stdout
    assert {r.name: (r / store.SUMMARY).stat().st_mtime for r in runs} == mtimes, "a skipped run was rewritten"


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_failing_job_does_not_stop_the_sweep_and_is_reported(tmp_path):
    # G=1 fails validation inside its job; the G=4 jobs must still finish.
    res = multirun(tmp_path, *bandit("method=rc,dvao", "G=1,4"))
    assert res.returncode == 1, "a sweep with a failed job must exit non-zero"
    assert "2 finished, 0 skipped (already done), 2 failed" in res.stdout
    jobs = read_jobs(tmp_path / "sweep")
    assert tally(jobs) == {"done": 2, "skipped": 0, "failed": 2, "busy": 0, "interrupted": 0}
    failed = [j for j in jobs if j["outcome"] == "failed"]
    assert all("G=1" in j["overrides"] and "group size" in j["error"] for j in failed)
    assert all(Path(j["log"]).exists() for j in failed), "the report must point at an existing log"
    assert "FAILED" in res.stdout and str(failed[0]["log"]) in res.stdout
    # The running tally: one line per finished job, its counts adding up to the jobs seen so far.
    progress = re.findall(r"\[(\d)/4 jobs\] (\d) finished, 0 skipped \(already done\), (\d) failed", res.stdout + res.stderr)
    assert sorted(int(n) for n, _, _ in progress) == [1, 2, 3, 4], res.stdout[-3000:]
    assert all(int(n) == int(d) + int(f) for n, d, f in progress)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir() if store.is_done(p)) == ["dvao-G4-s0", "rc-G4-s0"]


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_submitit_local_launcher_runs_a_sweep(tmp_path):
    res = multirun(tmp_path, *bandit("method=rc,dvao", "seed=0,1"), launcher="submitit_cpu")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "4 finished, 0 skipped (already done), 0 failed" in res.stdout
    progress = re.findall(r"\[(\d)/4 jobs\] (\d) finished", res.stdout + res.stderr)
    assert sorted(int(n) for n, _ in progress) == [1, 2, 3, 4], "a running tally line per finished job"
    logs = list((tmp_path / "sweep" / ".submitit").glob("*/*_0_log.out"))
    assert len(logs) == 4, "one submitit job (with its own log) per run"
    assert sum(store.is_done(p) for p in (tmp_path / "runs").iterdir()) == 4
    assert (tmp_path / "sweep" / JOBS_FILE).exists()


def test_llm_sweep_smoke_with_tiny_model(tmp_path, tiny_math_dir):
    """The path `make sweep-math` takes, shrunk: 2 methods x 2 seeds, 2 steps each, local launcher."""
    res = multirun(tmp_path, "task=math", "method=rc,dvao", "seed=0,1", "steps=2", "sweep=smoke-llm",
                   "task.eval.n_prompts=8", "eval.every=0", "train.prompts_per_step=2", "G=4")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "4 finished, 0 skipped (already done), 0 failed" in res.stdout
    for run in (tmp_path / "runs").iterdir():
        summary = json.loads((run / store.SUMMARY).read_text())
        assert summary["task"] == "math" and summary["step"] == 2
        assert {"eval/accuracy", "eval/length"} <= set(summary)


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_submitit_job_killed_mid_run_fails_only_itself(tmp_path):
    """Hydra's own submitit launcher ends the multirun with a traceback when one job is SIGKILLed (out of
    memory, scancel, a lost node): its results() raises. Ours reports that job failed, collects the rest."""
    cmd = multirun_cmd(tmp_path, "task=bandit", "task.contexts=32", "sweep=smoke", "method=rc",
                       "steps=1000000,20", "run_dir=" + str(tmp_path / "runs") + "/s${steps}",
                       launcher="submitit_cpu")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    status = tmp_path / "runs" / "s1000000" / store.STATUS
    try:
        deadline = time.monotonic() + 240
        while not (status.exists() and json.loads(status.read_text() or "{}").get("pid")):
            assert proc.poll() is None and time.monotonic() < deadline, "the long job never started"
            time.sleep(0.5)
        os.kill(json.loads(status.read_text())["pid"], signal.SIGKILL)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "1 finished, 0 skipped (already done), 1 failed" in out
    jobs = read_jobs(tmp_path / "sweep")
    killed = [j for j in jobs if j["outcome"] == "failed"]
    assert len(killed) == 1 and "steps=1000000" in killed[0]["overrides"]
    assert "ended without a result" in killed[0]["error"] and "_log.err" in killed[0]["error"]
    log_out = re.search(r"logs: (\S+_log\.out)", killed[0]["error"]).group(1)
    assert Path(log_out).exists(), "the error must point at the job's existing submitit log"
    assert store.run_state(tmp_path / "runs" / "s1000000").status == "stale"   # kept, resumable
    assert store.is_done(tmp_path / "runs" / "s20")


def test_requeued_submitit_job_resumes_its_own_run():
    from hydra_plugins.workbench_launcher.submitit_launcher import LocalLauncher, SlurmLauncher, with_resume

    assert with_resume(["method=dvao", "resume=false", "seed=1"]) == ["method=dvao", "seed=1", "resume=true"]
    assert with_resume(["+resume=false", "overwrite=true"]) == ["overwrite=true", "resume=true"]
    for launcher in (LocalLauncher(), SlurmLauncher(partition="gpu")):
        again = launcher.checkpoint(["method=rc", "seed=0"], "hydra.sweep.dir", 3, "job_id_for_3", {})
        assert again.function is launcher
        assert again.args == (["method=rc", "seed=0", "resume=true"], "hydra.sweep.dir", 3, "job_id_for_3", {})
        again = launcher.checkpoint(sweep_overrides=["resume=false"], job_dir_key="k", job_num=0, job_id="j",
                                    singleton_state={})
        assert again.kwargs["sweep_overrides"] == ["resume=true"] and again.kwargs["job_num"] == 0


def test_submitit_launcher_configs_use_the_workbench_launchers():
    for name, cls in [("submitit_cpu", "LocalLauncher"), ("slurm", "SlurmLauncher"),
                      ("slurm_multigpu", "SlurmLauncher"), ("slurm_multinode", "SlurmLauncher")]:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_ == f"hydra_plugins.workbench_launcher.submitit_launcher.{cls}"
