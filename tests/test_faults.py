"""Faults as a user meets them (issue 10), each through real processes: the same command twice, two
writers on one run, Ctrl-C, SIGTERM and SIGKILL, a damaged checkpoint, an unreachable W&B server, a
sweep whose job process is killed, and two ranks under torchrun. Each test asserts what is on disk
afterwards. In-process checks of the same rules are in tests/test_rundir.py."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_rundir import snapshot
from tests.test_run_support import FAST, compose_cfg, fast_cfg, records
from workbench import lock as L
from workbench import store
from workbench.run import run
from workbench.sweep import read_jobs
from workbench.train.config import ConfigError

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
BANDIT = ["task=bandit", "task.contexts=32", "logger=none", "threads=1"]
FOREVER = "steps=10000000"  # a run that only a signal ends


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench.run", *args]


def start(log: Path, *args: str, env=None) -> subprocess.Popen:
    """A background run whose output goes to ``log`` (a pipe could fill up and block it)."""
    return subprocess.Popen(command(*args), cwd=ROOT, env=env or ENV, stdout=log.open("w"), stderr=subprocess.STDOUT)


def finish(*args: str, env=None, timeout: float = 300) -> subprocess.CompletedProcess:
    """A run to its end; ``.stdout`` holds stdout and stderr (Hydra logs to stdout)."""
    return subprocess.run(command(*args), cwd=ROOT, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def logged_steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in records(run_dir / store.METRICS)] if (run_dir / store.METRICS).exists() else []


def assert_each_step_once(run_dir: Path) -> list[int]:
    steps = logged_steps(run_dir)
    assert steps == sorted(set(steps)), f"a step was logged twice or out of order: {steps}"
    return steps


def test_the_same_command_twice_skips_the_done_run_and_a_changed_one_is_refused(tmp_path):
    """`make run` twice (here its bandit form): the same finished run is skipped, as make does, with nothing
    changed; a different config on the same run_dir still refuses and says what to type."""
    args = [*BANDIT, "steps=20", f"run_dir={tmp_path / 'run'}"]
    first = finish(*args)
    assert first.returncode == 0, first.stdout[-2000:]
    before = snapshot(tmp_path)
    again = finish(*args)
    assert again.returncode == 0 and "skipped (already done)" in again.stdout, again.stdout[-2000:]
    assert snapshot(tmp_path) == before
    changed = finish(*args, "task.lr=0.3")
    assert changed.returncode == 2 and "Traceback" not in changed.stdout
    for hint in ("already holds a run of method=dvao on task=bandit (done at step 20)", "resume=true", "overwrite=true", "run_dir=..."):
        assert hint in changed.stdout, (hint, changed.stdout[-2000:])
    assert snapshot(tmp_path) == before


def test_second_writer_fails_fast_and_a_killed_run_is_stale_until_resumed(tmp_path, caplog):
    run_dir = tmp_path / "run"
    first = start(tmp_path / "first.log", *BANDIT, FOREVER, f"run_dir={run_dir}")
    try:
        wait_for(lambda: len(logged_steps(run_dir)) >= 2, "the first run's records")
        t0 = time.monotonic()
        second = finish(*BANDIT, FOREVER, "resume=true", f"run_dir={run_dir}")
        assert second.returncode == 1 and time.monotonic() - t0 < 60
        assert f"pid {first.pid} on host {socket.gethostname()}" in second.stdout, second.stdout[-2000:]
        assert store.run_state(run_dir).status == store.RUNNING
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    state = store.run_state(run_dir)
    assert state.status == store.STALE and state.holder is None, "SIGKILL: recognisably stale, not running forever"
    killed_at = assert_each_step_once(run_dir)

    with caplog.at_level(logging.WARNING):
        assert run(compose_cfg([*BANDIT, "steps=30", "resume=true", f"run_dir={run_dir}"]))["step"] == 30
    assert f"took over from a dead writer (pid {first.pid}" in caplog.text
    assert assert_each_step_once(run_dir) == [10, 20, 30] and len(killed_at) >= 2
    assert store.read_status(run_dir)["status"] == store.DONE and not (run_dir / L.LOCK).exists()


def test_ctrl_c_marks_the_run_interrupted_and_closes_wandb(tmp_path):
    run_dir = tmp_path / "run"
    proc = start(tmp_path / "run.log", *BANDIT, FOREVER, "logger=wandb", f"run_dir={run_dir}")
    wait_for(lambda: len(logged_steps(run_dir)) >= 2, "records")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    status = store.read_status(run_dir)
    steps = assert_each_step_once(run_dir)
    assert status["status"] == store.INTERRUPTED and status["step"] == steps[-1] and "SIGINT" in status["error"]
    assert not (run_dir / L.LOCK).exists() and not (run_dir / store.SUMMARY).exists()
    assert "finishing run" in (run_dir / "wandb" / "debug.log").read_text(), "W&B was closed"


def test_sigterm_checkpoints_at_the_step_and_resume_skips_a_damaged_checkpoint(tmp_path, tiny_math_dir):
    run_dir = tmp_path / "run"
    llm = [a for a in FAST if not a.startswith(("steps=", "train.save_every"))]
    proc = start(tmp_path / "run.log", *llm, "steps=1000", "train.save_every=2", "train.save_limit=3",
                 f"run_dir={run_dir}")
    wait_for(lambda: len(logged_steps(run_dir)) >= 3, "three steps")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143, (tmp_path / "run.log").read_text()[-3000:]
    status, steps = store.read_status(run_dir), assert_each_step_once(run_dir)
    k = steps[-1]
    assert status["status"] == store.INTERRUPTED and status["step"] == k and steps == list(range(1, k + 1))
    newest = run_dir / "checkpoints" / f"checkpoint-{k}"
    assert (newest / "model.safetensors").exists(), "the checkpoint is saved at the step the signal ended"

    with pytest.raises(ConfigError, match=f"steps=1 is below step {k} of the checkpoint"):
        run(fast_cfg(run_dir, "resume=true", "steps=1"))

    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a full disk, a killed copy
    fallback = max(s for s in range(2, k, 2))
    resumed = finish(*llm, f"steps={k + 1}", "train.save_every=2", "train.save_limit=3", "resume=true",
                     f"run_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stdout[-3000:]
    assert str(weights) in resumed.stdout and f"checkpoint-{fallback}" in resumed.stdout, resumed.stdout[-3000:]
    assert assert_each_step_once(run_dir) == list(range(1, k + 2))
    assert store.read_status(run_dir)["status"] == store.DONE and records(run_dir / store.EVAL)[-1]["step"] == k + 1


def test_unreachable_wandb_server_means_offline_after_a_short_probe(tmp_path):
    with socket.socket() as probe:  # a local port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in ENV.items() if k != "WANDB_MODE"}
    env.update(WANDB_API_KEY="0123456789" * 4, WANDB_BASE_URL=f"http://127.0.0.1:{port}")
    run_dir = tmp_path / "run"
    res = finish(*BANDIT, "steps=20", "logger=wandb", f"run_dir={run_dir}", env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:]
    # Timed from the run's own log (start of the run to its end), not the process: interpreter start-up and
    # exit on a loaded machine say nothing about the probe; wandb's own retries would take 90 s.
    stamps = {tag: datetime.strptime(re.search(r"\[([\d-]+ [\d:,]+)\]\[__main__\]\[INFO\] - " + tag, res.stdout)[1],
                                     "%Y-%m-%d %H:%M:%S,%f") for tag in ("starting", "done")}
    assert (stamps["done"] - stamps["starting"]).total_seconds() < 45, res.stdout[-2000:]
    assert f"cannot reach the W&B server 127.0.0.1:{port}" in res.stdout and "logging offline instead" in res.stdout
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb")) and store.is_done(run_dir)


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_a_sweep_survives_a_killed_job_and_a_relaunch_trains_no_run_twice(tmp_path):
    runs = tmp_path / "runs"

    def sweep(name: str) -> list[str]:
        return ["-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / name}",
                *BANDIT, "sweep=faults", "resume=true", "steps=30,10000000", "seed=0,1",
                f"run_dir={runs}/st" + "${steps}-s${seed}"]

    short, long = [runs / f"st30-s{s}" for s in (0, 1)], [runs / f"st10000000-s{s}" for s in (0, 1)]
    first = subprocess.Popen(command(*sweep("first")), cwd=ROOT, env=ENV, stdout=(tmp_path / "first.log").open("w"),
                             stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: all(store.is_done(r) for r in short) and all(len(logged_steps(r)) >= 2 for r in long),
                 "the short runs to finish and the long ones to log")
        again = finish(*sweep("again"))  # the same sweep launched again while the first still runs
        assert again.returncode == 1 and "0 finished, 2 skipped (already done), 0 failed, 2 busy" in again.stdout, \
            again.stdout[-3000:]
        killed, stopped = (L.read_holder(r).pid for r in long)
        os.kill(killed, signal.SIGKILL)   # the OOM killer, say
        os.kill(stopped, signal.SIGTERM)  # preemption
        assert first.wait(timeout=120) == 1
    finally:
        if first.poll() is None:
            first.kill()
    out = (tmp_path / "first.log").read_text()
    assert "2 finished, 0 skipped (already done), 1 failed, 1 interrupted" in out, out[-3000:]
    jobs = {j["outcome"]: j for j in read_jobs(tmp_path / "first")}
    assert "SIGKILL" in jobs["failed"]["error"] and "SIGTERM" in jobs["interrupted"]["error"]
    assert store.run_state(long[0]).status == store.STALE and store.run_state(long[1]).status == store.INTERRUPTED
    for r in long:
        assert_each_step_once(r)

    resumed = run(compose_cfg([*BANDIT, "sweep=faults", "seed=0", "steps=30", "resume=true", f"run_dir={long[0]}"]))
    assert resumed["step"] == 30 and assert_each_step_once(long[0]) == [10, 20, 30]


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_torchrun_two_ranks_write_one_intact_run_dir(tmp_path, tiny_math_dir):
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2",
                "-m", "workbench.run", *FAST, "logger=wandb"]
    run_dir = tmp_path / "run"
    res = subprocess.run([*torchrun, f"run_dir={run_dir}"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-4000:]
    assert store.is_run_dir(run_dir) and store.is_done(run_dir) and not (run_dir / L.LOCK).exists()
    assert (run_dir / store.CONFIG).exists() and json.loads((run_dir / store.SUMMARY).read_text())["step"] == 2
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1, "one W&B run, written by rank 0"
    assert assert_each_step_once(run_dir) == [1, 2] and [r["step"] for r in records(run_dir / store.EVAL)] == [2]
    assert [p.parent.name for p in (tmp_path / "outputs").glob("*/*")] == ["torchrun"], "one Hydra folder for both"

    before = snapshot(run_dir)  # rank 0 refuses a different run; rank 1 gets the refusal, nobody hangs
    res = subprocess.run([*torchrun, "resume=true", "method=rc", f"run_dir={run_dir}"], cwd=tmp_path, env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    assert res.returncode != 0 and "method.name: 'dvao' in the run dir, 'rc' now" in res.stdout, res.stdout[-4000:]
    assert snapshot(run_dir) == before
