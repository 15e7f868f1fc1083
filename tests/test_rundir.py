"""The run store's promises, in process (issue 10): refused paths and bad values change nothing on disk,
an existing run is never replaced by a default command, resume checks identity, and the lock rules.
The same faults through real processes and signals are in tests/test_faults.py."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_run_support import compose_cfg, fast_cfg, records
from workbench import lock as L
from workbench import store
from workbench.run import run
from workbench.train.config import ConfigError

BANDIT = ["task=bandit", "steps=20", "task.contexts=32", "logger=none", "threads=1"]


def bandit_cfg(run_dir, *extra: str):
    return compose_cfg(BANDIT + [f"run_dir={run_dir}", *extra])


def snapshot(root: Path) -> dict:
    """Every path under ``root`` with its bytes (files) and mtime: equal snapshots = an untouched tree."""
    root = Path(root)
    tree = {".": root.stat().st_mtime_ns}
    for p in sorted(root.rglob("*")):
        stat = p.lstat()
        tree[str(p.relative_to(root))] = (stat.st_mtime_ns, p.read_bytes() if p.is_file() else None)
    return tree


@pytest.fixture
def finished(tmp_path) -> Path:
    run_dir = tmp_path / "runs" / "done"
    run(bandit_cfg(run_dir))
    return run_dir


@pytest.fixture(scope="module")
def finished_llm(tmp_path_factory, tiny_math_dir) -> Path:
    run_dir = tmp_path_factory.mktemp("llm") / "run"
    run(fast_cfg(run_dir))
    return run_dir


# ---- 1. only the workbench's own run directories -----------------------------------------------
def _refused_paths(tmp: Path) -> dict[str, str]:
    (tmp / "file.txt").write_text("a file")
    (tmp / "thesis").mkdir()
    (tmp / "thesis" / "chapter.tex").write_text("precious")
    (tmp / "work" / "sub").mkdir(parents=True)
    return {"empty": "", "null": "null", "cwd": ".", "cwd parent": "..", "root": "/", "home": str(Path.home()),
            "checkout": str(ROOT), "checkout folder": str(ROOT / "conf"), "inside the package": str(ROOT / "workbench" / "r"),
            "file": str(tmp / "file.txt"), "foreign folder": str(tmp / "thesis"),
            "inside a run": "{finished}/checkpoints/x"}


REFUSED = ["empty", "null", "cwd", "cwd parent", "root", "home", "checkout", "checkout folder", "inside the package",
           "file", "foreign folder", "inside a run"]


@pytest.mark.parametrize("case", REFUSED)
@pytest.mark.parametrize("mode", [[], ["resume=true"], ["overwrite=true"]], ids=["fresh", "resume", "overwrite"])
def test_refused_run_dirs_change_nothing(case, mode, tmp_path, monkeypatch, request):
    monkeypatch.setenv("HOME", str(tmp_path / "work"))  # an existing folder: refused as the home folder
    run_dir = _refused_paths(tmp_path)[case]
    if "{finished}" in run_dir:
        run_dir = run_dir.format(finished=request.getfixturevalue("finished"))
    monkeypatch.chdir(tmp_path / "work" / "sub")
    before, checkout = snapshot(tmp_path), sorted(os.listdir(ROOT))
    with pytest.raises(ConfigError, match="run_dir") as err:
        run(bandit_cfg(run_dir, *mode))
    assert "run_dir=runs/my-run" in str(err.value) or "not empty" in str(err.value), "the error says what to use"
    assert snapshot(tmp_path) == before and sorted(os.listdir(ROOT)) == checkout


def test_legacy_run_is_read_only(tmp_path, finished):
    """A run written before the marker existed: never resumed, replaced or written; a finished one with the
    same config can still be read back by resume=true (a re-run sweep skips it)."""
    (finished / store.MARKER).unlink()
    before = snapshot(finished)
    for mode in ([], ["overwrite=true"], ["resume=true", "steps=30"]):
        with pytest.raises(ConfigError, match="older workbench"):
            run(bandit_cfg(finished, *mode))
    assert run(bandit_cfg(finished, "resume=true")) == json.loads((finished / store.SUMMARY).read_text())
    assert snapshot(finished) == before


def test_empty_folder_is_adopted(tmp_path):
    (tmp_path / "empty").mkdir()
    run(bandit_cfg(tmp_path / "empty"))
    assert store.is_run_dir(tmp_path / "empty") and store.is_done(tmp_path / "empty")


# ---- 2. every value validated before the disk changes -------------------------------------------
BAD_BANDIT = {
    "typo in a task key": (["+task.lenght=3"], "task.lenght"),
    "typo with overwrite": (["overwrite=true", "+task.lenght=3"], "task.lenght"),
    "estimator option": (["+method.options.stdd=1"], "method.options"),
    "estimator option value": (["+method.options.std=sample"], "method.options"),
    "policy": (["task.policy=transformer"], "policy"),
    "optimizer": (["task.optimizer=adamw"], "optimizer"),
    "group size": (["G=1"], "group size"),
    "weights": (["weights=[1,2,3]"], "objectives"),
    "resume and overwrite": (["resume=true", "overwrite=true"], "contradict"),
    "resume not a bool": (["resume=yes"], "true or false"),
    "fresh, another config, on a finished run": (["task.lr=0.3"], "resume=true"),  # the same config is skipped
    "steps beyond the limit": (["steps=1000000000"], "above the limit"),
    "resume another method": (["resume=true", "method=rc"], "method.name: 'dvao' in the run dir, 'rc' now"),
    "resume with K=3": (["resume=true", "task.K=3"], "task.K: 2 in the run dir, 3 now"),
    "resume fewer steps": (["resume=true", "steps=10"], "below the 20 steps"),
}


def assert_refused_untouched(cfg, message: str, tree: Path) -> None:
    before = snapshot(tree)
    with pytest.raises(ConfigError, match=re.escape(message)):
        run(cfg)
    assert snapshot(tree) == before


@pytest.mark.parametrize("case", list(BAD_BANDIT))
def test_bad_bandit_values_leave_a_finished_run_untouched(case, finished):
    overrides, message = BAD_BANDIT[case]
    assert_refused_untouched(bandit_cfg(finished, *overrides), message, finished.parent)


BAD_LLM = {
    "unknown GRPOConfig field": (["+train.extra.num_generatons=4"], "not a trl.GRPOConfig argument"),
    "GRPOConfig field type": (["+train.extra.num_iterations=x"], "takes a int"),
    "GRPOConfig rejects": (["+train.extra.generation_batch_size=7"], "GRPOConfig rejects"),
    "typo with overwrite": (["overwrite=true", "+train.extra.bogus=1"], "bogus"),
    "eval prompts": (["task.eval.n_prompts=0"], "n_prompts"),
    "data option": (["+task.data.bogus=1"], "bogus"),
    "model dtype": (["model.dtype=fp8"], "dtype"),
    "batch size": (["train.batch_size=6"], "multiple of G"),
    "estimator option": (["+method.options.scale=batch"], "method.options"),
    "resume with another objective set": (["resume=true", "task.objectives=[accuracy,length,format]",
                                           "weights=null"], "task.objectives"),
    "unknown loss type": (["+train.extra.loss_type=daapo"], "GRPOConfig.loss_type takes one of grpo"),
    "TRL's aggregation": (["+train.extra.multi_objective_aggregation=normalize_then_sum"], "choose it with method="),
    "TRL's reward scaling": (["+train.extra.scale_rewards=batch"], "choose it with method="),
    "TRL's reward weights": (["+train.extra.reward_weights=[1,2]"], "weights=[...]"),
    "group size in extra": (["+train.extra.num_generations=4"], "set the group size with G="),
    "out-of-range extra": (["+train.extra.num_iterations=0"], "num_iterations must be >= 1"),
    "LoRA target": (["model.lora.r=4", "model.lora.target_modules=[qkv]"], "matches no module"),
    "LoRA on the head": (["model.lora.r=4", "model.lora.target_modules=[lm_head]"], "adapts the output head"),
    "LoRA rank": (["model.lora.r=-1"], "model.lora.r=-1"),
}


@pytest.mark.parametrize("case", list(BAD_LLM))
def test_bad_llm_values_leave_a_finished_run_untouched(case, finished_llm):
    overrides, message = BAD_LLM[case]
    assert_refused_untouched(fast_cfg(finished_llm, *overrides), message, finished_llm)


# ---- 3. a default command never replaces a run; overwrite=true does, only a marked one ------------
def test_overwrite_replaces_only_a_marked_idle_run(finished, tmp_path):
    marker = store.read_marker(finished)
    (finished / "notes.txt").write_text("inside the run dir")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "set.csv").write_text("outside the run dir")
    (finished / "data-link").symlink_to(tmp_path / "data")
    summary = run(bandit_cfg(finished, "overwrite=true", "seed=3"))  # seed is identity: a different run
    assert store.read_marker(finished)["uuid"] != marker["uuid"] and not (finished / "notes.txt").exists()
    assert not (finished / "data-link").exists() and (tmp_path / "data" / "set.csv").exists(), "links not followed"
    assert summary["seed"] == 3 and json.loads((finished / store.SUMMARY).read_text())["seed"] == 3
    assert [r["step"] for r in records(finished / store.METRICS)] == [10, 20]

    holder = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "token": "other"}
    (finished / L.LOCK).write_text(json.dumps(holder))  # a live writer (this very process)
    before = snapshot(finished)
    with pytest.raises(L.LockBusy, match=f"pid {os.getpid()} on host {socket.gethostname()}"):
        run(bandit_cfg(finished, "overwrite=true"))
    assert snapshot(finished) == before


# ---- 5. resume: same run, returned or continued -------------------------------------------------
def test_resume_returns_a_finished_run_or_trains_on(finished):
    before = snapshot(finished)
    assert run(bandit_cfg(finished, "resume=true", "eval.every=5")) == json.loads((finished / store.SUMMARY).read_text())
    assert snapshot(finished) == before, "returning a finished run writes nothing"
    # another sweep sharing the run directory (make sweep-sim's common point) gets the run, untouched
    assert run(bandit_cfg(finished, "resume=true", "sweep=sim_K"))["step"] == 20
    assert snapshot(finished) == before
    assert run(bandit_cfg(finished, "resume=true", "steps=30"))["step"] == 30  # the bandit has no checkpoint: again
    assert [r["step"] for r in records(finished / store.METRICS)] == [10, 20, 30]
    assert json.loads((finished / "summary-step20.json").read_text())["step"] == 20, "the earlier summary is kept"
    assert store.read_status(finished)["status"] == "done"


# ---- 4, 6. the lock and the statuses -------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _write_lock(run_dir: Path, age_s: float = 0.0, **fields) -> None:
    record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time() - age_s, "token": "t0",
              **fields}
    (run_dir / L.LOCK).write_text(json.dumps(record))
    os.utime(run_dir / L.LOCK, (time.time() - age_s, time.time() - age_s))


def test_lock_rules(tmp_path, monkeypatch):
    run_dir = tmp_path / "r"
    store.RunStore(run_dir).set_status(store.RUNNING, step=7)
    assert store.run_state(run_dir).status == store.STALE, "running, but nobody holds the lock"

    _write_lock(run_dir, pid=_dead_pid())                                  # same host, process gone
    assert store.run_state(run_dir).status == store.STALE
    with L.RunLock(run_dir) as lock:
        assert "no longer exists" in lock.took_over and lock.owned()
        assert store.run_state(run_dir).status == store.RUNNING and store.run_state(run_dir).holder.pid == os.getpid()
    assert not (run_dir / L.LOCK).exists(), "released"

    monkeypatch.setenv(L.TIMEOUT_ENV, "60")
    _write_lock(run_dir, age_s=5, host="node-b", pid=4242)                 # another host, fresh heartbeat
    with pytest.raises(L.LockBusy, match="pid 4242 on host node-b"):
        L.RunLock(run_dir).acquire()
    _write_lock(run_dir, age_s=120, host="node-b", pid=4242)               # another host, silent for 120 s
    with L.RunLock(run_dir) as lock:
        assert "no heartbeat for 12" in lock.took_over

    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    _write_lock(run_dir, host="node-b", pid=4242, slurm_job="77", slurm_restart=None)  # this job, before requeue
    with L.RunLock(run_dir) as lock:
        assert "requeued" in lock.took_over


def test_heartbeat_refreshes_and_notices_a_lost_lock(tmp_path, monkeypatch):
    monkeypatch.setenv(L.TIMEOUT_ENV, "0.4")  # heartbeat every 0.1 s
    run_dir = tmp_path / "r"
    store.create_run_dir(run_dir)
    lost = []
    lock = L.RunLock(run_dir).acquire()
    lock.on_lost = lambda: lost.append(True)
    try:
        os.utime(lock.path, (0, 0))
        time.sleep(0.5)
        assert lock.path.stat().st_mtime > time.time() - 5, "the heartbeat touches the lock file"
        _write_lock(run_dir, token="thief")
        for _ in range(50):
            if lost:
                break
            time.sleep(0.05)
        assert lost and lock.lost.is_set()
    finally:
        lock.release()
    assert json.loads((run_dir / L.LOCK).read_text())["token"] == "thief", "a lost lock is not deleted"


def _checkpoint(root: Path, step: int) -> Path:
    import torch
    from safetensors.torch import save_file

    ckpt = root / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    save_file({"w": torch.ones(64, 64)}, str(ckpt / "model.safetensors"))
    torch.save({"state": {0: torch.ones(64, 64)}}, ckpt / "optimizer.pt")
    return ckpt


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_damaged_checkpoints_are_named_and_skipped(tmp_path):
    from workbench.rundir import newest_intact_checkpoint

    ckpts = {s: _checkpoint(tmp_path, s) for s in (2, 4, 6, 8)}
    (ckpts[8] / "trainer_state.json").write_bytes(b"\x00\xff binary junk")
    _truncate(ckpts[6] / "model.safetensors")
    _truncate(ckpts[4] / "optimizer.pt")
    path, step, notes = newest_intact_checkpoint(tmp_path)
    assert (path, step) == (ckpts[2], 2)
    assert [n.split(":")[0] for n in notes[:3]] == [f"checkpoint {c} is damaged and skipped" for c in
                                                    ("checkpoint-8", "checkpoint-6", "checkpoint-4")]
    for name, note in zip(("trainer_state.json", "model.safetensors", "optimizer.pt"), notes):
        assert name in note
    _truncate(ckpts[2] / "model.safetensors")
    assert newest_intact_checkpoint(tmp_path)[:2] == (None, 0), "nothing intact (resume then refuses: rundir.decide)"


def test_resume_refuses_when_no_checkpoint_loads(tmp_path):
    from omegaconf import OmegaConf

    run_dir = tmp_path / "run"
    cfg = bandit_cfg(run_dir, "resume=true")
    writer = store.RunStore(run_dir)
    writer.write_config(OmegaConf.to_yaml(cfg, resolve=True))  # as the run writes it
    writer.set_status(store.FAILED, step=4)
    _truncate(_checkpoint(run_dir / store.CHECKPOINTS, 4) / "model.safetensors")
    assert_refused_untouched(cfg, "no checkpoint in", run_dir)


def test_resume_drops_a_half_written_last_line_before_appending(tmp_path):
    """A run killed mid-write leaves a line without its newline; the next record must not be glued to it."""
    writer = store.RunStore(tmp_path / "r")
    for step in (1, 2, 3):
        writer.log_metrics(step, {"train/loss": 0.1 * step})
    clean = (writer.path / store.METRICS).read_bytes()
    with open(writer.path / store.METRICS, "a") as f:
        f.write('{"step": 4, "train/lo')
    with pytest.warns(UserWarning, match="metrics.jsonl:4"):
        writer.truncate_after(3)
    assert (writer.path / store.METRICS).read_bytes() == clean
    writer.log_metrics(4, {"train/loss": 0.4})
    assert [r["step"] for r in records(writer.path / store.METRICS)] == [1, 2, 3, 4]
