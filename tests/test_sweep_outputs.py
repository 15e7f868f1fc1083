"""The edges of a run (issue 23): sweeps sharing run_dirs or a sweep folder, stale job pickles, Hydra's own
output folders, the analysis' --out folder, a full disk, resume with no checkpoint, limits checked before the
disk, a signal during a long step, a W&B server that never answers, and run discovery in the analysis. Each
test asserts what is on disk (or what was said) afterwards; the bandit task keeps them to seconds."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_rundir import snapshot
from tests.test_run_support import compose_cfg
from workbench import interrupt, outputs, store
from workbench import lock as L
from workbench.sweep import JOBS_FILE, SWEEP_LOCK, read_jobs
from workbench.train import config as C

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
BANDIT = ["task=bandit", "task.contexts=32", "logger=none", "threads=1", "steps=20"]


def wb(*args: str, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m workbench.run ARGS``; ``.stdout`` holds stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "workbench.run", *args], cwd=cwd, env=ENV, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def train(*overrides: str) -> dict:
    """A run in this process (faster than a subprocess where only its result matters)."""
    from workbench.run import run

    return run(compose_cfg(list(overrides)))


def sweep(tmp: Path, *args: str, folder: str = "sweep") -> subprocess.CompletedProcess:
    return wb("-m", "hydra/launcher=local", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp / folder}", *BANDIT,
              *args)


# ---- sweep points are distinct runs ---------------------------------------------------------------
def test_two_points_sharing_a_run_dir_refuse_the_sweep_before_any_job(tmp_path):
    for launcher in ("basic", "local"):
        res = wb("-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / launcher}", *BANDIT,
                 "task.lr=0.05,0.1", "seed=0,1", "overwrite=true", f"run_dir={tmp_path}/runs/" + "s${seed}")
        assert res.returncode == 2, res.stdout[-2000:]
        assert "2 run_dir(s) would be shared" in res.stdout and "task.lr=0.05" in res.stdout and "task.lr=0.1" in res.stdout
        assert "Traceback" not in res.stdout
        assert not (tmp_path / "runs").exists(), "no job may start"


# ---- one sweep folder, one sweep ------------------------------------------------------------------
def test_a_second_launch_on_a_busy_sweep_folder_is_refused(tmp_path):
    folder = tmp_path / "sweep"
    outputs.claim_hydra_folder(folder, "hydra.sweep.dir")
    fd = os.open(folder / SWEEP_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a live launcher holds the folder
    os.pwrite(fd, b"pid 4242 on somehost", 0)
    try:
        res = sweep(tmp_path, "seed=0,1", f"run_dir={tmp_path}/runs/" + "s${seed}")
    finally:
        os.close(fd)
    assert res.returncode == 1 and "in use by another sweep (pid 4242 on somehost)" in res.stdout, res.stdout[-2000:]
    assert not (tmp_path / "runs").exists()


def test_jobs_jsonl_is_appended_and_the_tally_counts_this_launch_only(tmp_path):
    folder = tmp_path / "sweep"
    outputs.claim_hydra_folder(folder, "hydra.sweep.dir")
    earlier = {"job": 0, "overrides": ["seed=9"], "outcome": "failed", "run_dir": None, "error": "boom",
               "log": "x.log", "launch": "an-earlier-launch"}
    (folder / JOBS_FILE).write_text(json.dumps(earlier) + "\n")
    stale = folder / ".jobs" / "a-dead-launcher"  # what a killed launcher left: never read as a result
    stale.mkdir(parents=True)
    (stale / "0.out.pkl").write_bytes(b"not a pickle of this launch")
    args = ("seed=0,1", f"run_dir={tmp_path}/runs/" + "s${seed}")
    first = sweep(tmp_path, *args)
    assert first.returncode == 0 and "2 finished, 0 skipped (already done), 0 failed" in first.stdout, first.stdout[-3000:]
    assert not stale.exists() and not any((folder / ".jobs").iterdir()), "stale and own job pickles are removed"
    # The same sweep again, without resume=true: the same finished runs are skipped, as make does.
    before = snapshot(tmp_path / "runs")
    again = sweep(tmp_path, *args)
    assert again.returncode == 0 and "0 finished, 2 skipped (already done), 0 failed" in again.stdout, again.stdout[-3000:]
    assert snapshot(tmp_path / "runs") == before
    jobs = read_jobs(folder)
    assert jobs[0] == earlier and len(jobs) == 5, "records are only ever appended"
    assert len({j["launch"] for j in jobs}) == 3


def test_a_job_process_that_dies_fails_alone_with_warm_workers(tmp_path):
    plugin = tmp_path / "die.py"
    plugin.write_text("import os, signal\nfrom workbench.advantages import register\n\n\n@register('die')\n"
                      "def die(rewards, weights, **kw):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    res = sweep(tmp_path, "method=custom", "method.estimator=die,rc", f"plugins=[{plugin}]",
                f"run_dir={tmp_path}/runs/" + "${method.name}")
    assert res.returncode == 1 and "1 finished, 0 skipped (already done), 1 failed" in res.stdout, res.stdout[-3000:]
    failed = [j for j in read_jobs(tmp_path / "sweep") if j["outcome"] == "failed"]
    assert len(failed) == 1 and "was killed by SIGKILL" in failed[0]["error"]
    assert store.is_done(tmp_path / "runs" / "rc")


# ---- Hydra's folders are Hydra's ------------------------------------------------------------------
def test_hydra_folders_never_take_a_users_files_or_a_run(tmp_path):
    mine = tmp_path / "mine"
    (mine / ".hydra").mkdir(parents=True)
    (mine / ".hydra" / "config.yaml").write_text("my own notes\n")
    res = wb(*BANDIT, f"hydra.run.dir={mine}", f"run_dir={tmp_path / 'run'}")
    assert res.returncode == 2 and "did not write" in res.stdout and "Traceback" not in res.stdout, res.stdout[-2000:]
    assert (mine / ".hydra" / "config.yaml").read_text() == "my own notes\n" and not (tmp_path / "run").exists()

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / JOBS_FILE).write_text("a user's file\n")
    res = sweep(tmp_path, "seed=0,1", f"run_dir={tmp_path}/runs/" + "s${seed}", folder="theirs")
    assert res.returncode == 2 and "jobs.jsonl" in res.stdout, res.stdout[-2000:]
    assert (theirs / JOBS_FILE).read_text() == "a user's file\n"

    run = tmp_path / "run"
    train(*BANDIT, f"run_dir={run}")
    before = snapshot(run)
    for key in ("hydra.run.dir", "hydra.sweep.dir"):
        res = wb(*(["-m"] if "sweep" in key else []), *BANDIT, f"{key}={run / 'logs'}", f"run_dir={tmp_path / 'other'}")
        assert res.returncode == 2 and "inside the run directory" in res.stdout, res.stdout[-2000:]
    assert snapshot(run) == before


def test_single_runs_started_together_get_their_own_hydra_folders(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "workbench.run", *BANDIT, f"run_dir={tmp_path / f'r{i}'}"],
                              cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    logs = sorted((tmp_path / "outputs").glob("*/*/run.log"))
    assert len(logs) == 2, logs
    assert all((log.parent / outputs.HYDRA_MARKER).exists() for log in logs)
    assert sum(str(tmp_path / "r0") in log.read_text() for log in logs) == 1, "each run logs to its own folder"


# ---- the analysis writes only where it owns -------------------------------------------------------
def test_analysis_out_is_new_empty_or_its_own(tmp_path, capsys):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        train(*BANDIT, "method=rc", f"seed={seed}", f"run_dir={runs / f's{seed}'}")
    users = tmp_path / "notes"
    users.mkdir()
    (users / "report.md").write_text("my report\n")

    from analysis import pareto as P

    def refused(out: Path) -> str:
        with pytest.raises(SystemExit) as exit_:
            P.main([str(runs), "--out", str(out), "--n-boot", "50"])
        assert exit_.value.code == 2
        return capsys.readouterr().err

    assert "did not create" in refused(users)
    assert (users / "report.md").read_text() == "my report\n" and sorted(os.listdir(users)) == ["report.md"]
    before = snapshot(runs)
    assert "is a run directory" in refused(runs / "s0") and snapshot(runs) == before
    assert "inside the run directory" in refused(runs / "s0" / "reports") and snapshot(runs) == before
    out = tmp_path / "report"
    P.main([str(runs), "--out", str(out), "--n-boot", "50"])
    assert (out / outputs.REPORT_MARKER).exists()
    first = (out / "runs.csv").read_text()
    P.main([str(runs), "--out", str(out), "--n-boot", "50"])
    assert (out / "runs.csv").read_text() == first, "its own folder is rewritten"


# ---- faults leave the truth -----------------------------------------------------------------------
FULL_DISK = """
import errno, os
from workbench import store
FULL = os.path.exists({flag!r})  # the disk is full while the test's flag file exists
_append, _atomic = store.RunStore._append, store._write_atomic
def _full(*a, **k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
def append(self, name, record):
    if FULL and name == store.METRICS and record.get("step", 0) >= {at}:
        with store.naming(self.path / name):
            _full()
    return _append(self, name, record)
store.RunStore._append = append
if FULL and {status_too}:
    def atomic(path, text):
        if path.name == store.STATUS and '"running"' not in text:
            with store.naming(path):
                _full()
        return _atomic(path, text)
    store._write_atomic = atomic
"""


@pytest.mark.parametrize("status_too", [pytest.param(False, marks=pytest.mark.slow), True],
                         ids=["status-written", "status-unwritable"])
def test_a_full_disk_ends_the_run_with_one_line_and_a_truthful_status(tmp_path, status_too):
    plugin = tmp_path / "full_disk.py"
    flag = tmp_path / "disk-is-full"
    flag.touch()
    plugin.write_text(FULL_DISK.format(flag=str(flag), at=10, status_too=status_too))
    run = tmp_path / "run"
    res = wb(*BANDIT, "steps=40", f"plugins=[{plugin}]", f"run_dir={run}")
    assert res.returncode == 1 and "Traceback" not in res.stdout, res.stdout[-3000:]
    assert f"cannot write {run / store.METRICS}: No space left on device" in res.stdout
    state = store.run_state(run)
    if status_too:  # status.json still says running, but nobody writes it: stale, not running forever
        assert state.status == store.STALE and "could not record the run as failed" in res.stdout
    else:
        assert state.status == store.FAILED and "No space left on device" in state.error
    assert not list(run.glob("*.tmp")) and not (run / L.LOCK).exists()
    flag.unlink()  # space is back: the same run resumes
    resumed = wb(*BANDIT, "steps=40", "resume=true", f"plugins=[{plugin}]", f"run_dir={run}")
    assert resumed.returncode == 0 and store.is_done(run), resumed.stdout[-2000:]


def test_an_empty_lock_left_by_a_dead_writer_does_not_block(tmp_path):
    run = tmp_path / "run"
    store.create_run_dir(run)
    (run / L.LOCK).write_bytes(b"")
    old = time.time() - 2 * L.UNREADABLE_STALE_S
    os.utime(run / L.LOCK, (old, old))
    assert not L.holder_alive(L.read_holder(run))[0]
    with L.RunLock(run) as lock:
        assert lock.owned() and "empty or unreadable" in lock.took_over
    (run / L.LOCK).write_bytes(b"")  # a lock being written right now still counts as held
    assert L.holder_alive(L.read_holder(run))[0]


def test_resume_without_a_checkpoint_keeps_the_logged_records(tmp_path):
    run = tmp_path / "run"
    train(*BANDIT, f"run_dir={run}")
    logged = (run / store.METRICS).read_text()
    res = wb(*BANDIT, "steps=30", "resume=true", f"run_dir={run}")  # the bandit keeps no checkpoints
    assert res.returncode == 0 and "training restarts from step 0" in res.stdout, res.stdout[-2000:]
    (aside,) = run.glob("metrics-before-restart-*.jsonl")
    assert aside.read_text() == logged, "the earlier records are kept as they were"
    assert [r["step"] for r in store.read_jsonl(run / store.METRICS)][-1] == 30


# ---- limits before the disk -----------------------------------------------------------------------
@pytest.mark.parametrize("override, message", [
    ("G=100000", "G=100000 is above the limit 1024"),
    ("seed=4294967296", "seed=4294967296 is above the limit 4294967295"),
    ("threads=100000", "threads=100000 is above the limit"),
    ("steps=1000000000", "steps=1000000000 is above the limit"),
    ("train.prompts_per_step=10000", "completions per step"),
    ("weights=[1e308,1e308]", "their sum overflows"),
])
def test_sizes_that_cannot_work_are_refused_before_the_disk(tmp_path, override, message):
    cfg = compose_cfg([*BANDIT, override, f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(C.ConfigError, match=message.replace("[", r"\[")):
        from workbench.run import validate

        validate(cfg)
    assert not (tmp_path / "run").exists()


def test_one_signal_stops_a_step_that_never_reaches_its_boundary(monkeypatch):
    monkeypatch.setattr(interrupt, "GRACE_S", 0.5)
    t0 = time.monotonic()
    with pytest.raises(interrupt.Interrupted, match="did not end within"), interrupt.graceful_stop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        while time.monotonic() - t0 < 10:  # a generation that never returns to the loop
            time.sleep(0.01)
    assert time.monotonic() - t0 < 5 and stop.signum == signal.SIGTERM
    with pytest.raises(interrupt.Interrupted), interrupt.graceful_stop() as stop:  # a boundary in time: no timer
        os.kill(os.getpid(), signal.SIGTERM)
        stop.at_boundary()
        time.sleep(1.0)
        stop.check(3)


# ---- W&B never stalls a run -----------------------------------------------------------------------
def test_a_wandb_server_that_never_answers_is_found_by_the_probe(monkeypatch):
    from workbench.logger import wandb_server_problem

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()  # accepts, never answers
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{server.getsockname()[1]}")
    t0 = time.monotonic()
    problem = wandb_server_problem(timeout=1.0)
    assert problem and "did not answer within 1 s" in problem and time.monotonic() - t0 < 5
    server.close()

    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        def log_message(self, *args):
            pass

    http = HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{http.server_port}")
    try:
        assert wandb_server_problem(timeout=5.0) is None, "any HTTP answer means the server is alive"
    finally:
        http.shutdown()
        http.server_close()


# ---- the analysis never drops or misreads a run silently ------------------------------------------
def test_every_run_folder_is_analysed_or_named(tmp_path):
    from analysis.load import SkippedRunWarning, load_runs

    root, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    for seed, where in ((0, root / "a"), (1, root / "b"), (2, elsewhere / "c")):
        train(*BANDIT, "method=rc", f"seed={seed}", f"run_dir={where}")
    (root / "linked").symlink_to(elsewhere / "c")       # a run linked in: analysed
    (root / "again").symlink_to(root / "a")              # a second path to a run: named, read once
    (root / "metrics-only").mkdir()
    (root / "metrics-only" / store.METRICS).write_text('{"step": 1}\n')  # no status.json: named
    bad = root / "inf"
    bad.mkdir()
    for name in (store.STATUS, store.SUMMARY, store.CONFIG):
        (bad / name).write_bytes((root / "b" / name).read_bytes())
    summary = json.loads((bad / store.SUMMARY).read_text())
    summary["eval/regret"] = float("inf")
    (bad / store.SUMMARY).write_text(json.dumps(summary))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tables = load_runs(root, steps=False)
    assert sorted(tables.runs["run"]) == ["a", "b", "linked"]
    reasons = dict(tables.skipped)
    assert set(reasons) == {"again", "metrics-only", "inf"}
    assert "symlink" in reasons["again"] and "no status.json" in reasons["metrics-only"]
    assert "eval/regret is inf (not finite)" in reasons["inf"]
    assert any(issubclass(w.category, SkippedRunWarning) and "metrics-only" in str(w.message) for w in caught)


def test_a_sweep_folder_of_an_older_workbench_is_adopted(tmp_path):
    folder = tmp_path / "multirun" / "math"
    folder.mkdir(parents=True)
    (folder / "multirun.yaml").write_text("hydra:\n  callbacks:\n    sweep_report:\n"
                                          "      _target_: workbench.sweep.SweepReport\n")
    (folder / JOBS_FILE).write_text("")
    outputs.claim_hydra_folder(folder, "hydra.sweep.dir")
    assert (folder / outputs.HYDRA_MARKER).exists()
    (folder / "multirun.yaml").write_text("hydra: {}\n")  # someone else's Hydra sweep
    (folder / outputs.HYDRA_MARKER).unlink()
    with pytest.raises(outputs.FolderRefused, match="multirun.yaml, jobs.jsonl"):
        outputs.claim_hydra_folder(folder, "hydra.sweep.dir")


def test_one_signal_stops_a_sweep_of_the_basic_launcher(tmp_path):
    """Hydra's basic launcher runs every job in its own process: a SIGTERM must end the sweep, not only the
    job that was running (the next ones are reported interrupted, not started)."""
    run_dir = tmp_path / "runs"
    log = tmp_path / "sweep.log"
    proc = subprocess.Popen([sys.executable, "-m", "workbench.run", "-m", "hydra/launcher=basic",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}", *BANDIT, "steps=10000000", "seed=0,1,2",
                             f"run_dir={run_dir}/" + "s${seed}"], cwd=ROOT, env=ENV, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not ((run_dir / "s0" / store.METRICS).exists() and (run_dir / "s0" / store.METRICS).stat().st_size):
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 1, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert "0 finished, 0 skipped (already done), 0 failed, 3 interrupted" in out, out[-3000:]
    assert not (run_dir / "s1").exists() and not (run_dir / "s2").exists(), "no job starts after the signal"
    assert store.run_state(run_dir / "s0").status == store.INTERRUPTED
