"""Logger backends (issue 25): logger=wandb | trackio | [wandb,trackio] | none compose and validate; a run with
both writes the very keys and steps of its run store to W&B and to trackio; trackio's data stays in
<logger.root>/.trackio (never in the user's home) and mirrors the store across resume and overwrite.
Runs are real bandit runs in their own processes (trackio reads its data folder once per process)."""
from __future__ import annotations

import glob
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.dashboard_support import env
from tests.test_run_support import compose_cfg, records
from workbench import logger as L
from workbench import store
from workbench.run import run, trackio_settings, wandb_settings
from workbench.train import config as C

BANDIT = ["task=bandit", "task.contexts=32", "threads=1", "eval.every=10", "sweep=demo"]


def bandit_run(root: Path, home: Path, *overrides: str, steps: int = 20) -> subprocess.CompletedProcess:
    """One bandit run under ``root`` (the runs root) in a fresh process whose HOME is ``home``."""
    res = subprocess.run([sys.executable, "-m", "workbench.run", *BANDIT, f"steps={steps}", f"logger.root={root}",
                          f"run_dir={root}/demo/bandit/r0", *overrides], cwd=ROOT, env=env(home), text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:]
    return res


def trackio_records(root: Path, name: str) -> list[dict]:
    """The (step, metrics) rows trackio stored for run ``name``, read straight from its SQLite file."""
    with sqlite3.connect(f"file:{root / '.trackio' / 'dvao-workbench.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT step, metrics FROM metrics WHERE run_name = ? ORDER BY id", (name,)).fetchall()
    return [{"step": step, **json.loads(metrics)} for step, metrics in rows]


def store_records(run_dir: Path) -> list[dict]:
    """metrics.jsonl then eval.jsonl, each record without its null values (the backends never get those)."""
    return [{k: v for k, v in r.items() if v is not None}
            for name in (store.METRICS, store.EVAL) for r in records(run_dir / name)]


def by_step(rows: list[dict]) -> list[tuple]:
    return sorted((r["step"], tuple(sorted(r.items()))) for r in rows)


@pytest.mark.parametrize("choice, backends", [("wandb", ["wandb"]), ("trackio", ["trackio"]), ("none", []),
                                              ("[wandb,trackio]", ["wandb", "trackio"]),
                                              ("[trackio,wandb]", ["wandb", "trackio"])])
def test_logger_choices_compose_to_backends(choice, backends):
    spec = C.load(compose_cfg([f"logger={choice}"]))
    assert spec.logger.backends == backends
    assert (wandb_settings(spec, 2) is not None) == ("wandb" in backends)
    assert (trackio_settings(spec) is not None) == ("trackio" in backends)


def test_every_backend_gets_the_run_dir_name_and_the_sweep_group():
    spec = C.load(compose_cfg(["logger=[wandb,trackio]", "sweep=demo", "method=ac", "weights=[0.3,0.7]"]))
    w, t = wandb_settings(spec, 2), trackio_settings(spec)
    assert w.name == t.name == "demo/math/ac-tiny-G8-w0.3-0.7-s0"   # runs/demo/math/... relative to logger.root
    assert w.group == t.group == "demo" and w.project == t.project == "dvao-workbench"
    assert L.run_name("/elsewhere/r", "runs") == "/elsewhere/r"     # outside the root: the path as given


@pytest.mark.parametrize("overrides, words", [
    (["logger=trackio", "logger.trackio=maybe"], ["logger.trackio", "true or false", "logger=[wandb,trackio]"]),
    (["logger.wandb=1"], ["logger.wandb", "true or false"]),
    (["logger=trackio", "run_dir=/tmp/elsewhere/r"], ["not under logger.root", "Set logger.root"]),
    (["logger=trackio", "logger.project=a/b"], ["logger.project", "trackio project name"]),
    (["logger=trackio", "logger.root=''"], ["logger.root", "runs root"]),
    (["logger=trackio", "logger.root=/", "run_dir=/tmp/x/r"], ["filesystem root", "logger.root=runs"]),
    (["logger=trackio", f"logger.root={Path.home()}", f"run_dir={Path.home()}/x/r"], ["your home"]),
])
def test_bad_logger_values_are_refused_with_the_fix(overrides, words):
    with pytest.raises(C.ConfigError) as err:
        C.load(compose_cfg(overrides))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_foreign_trackio_folder_or_a_file_is_never_written(tmp_path):
    root = tmp_path / "runs"
    (root / ".trackio").mkdir(parents=True)
    (root / ".trackio" / "notes.txt").write_text("mine")
    args = ["logger=trackio", f"logger.root={root}", f"run_dir={root}/x/r", *BANDIT]
    with pytest.raises(C.ConfigError, match="not created by the workbench"):
        run(compose_cfg(args))
    assert sorted(p.name for p in root.rglob("*")) == [".trackio", "notes.txt"]   # nothing written, not even r/
    (root / ".trackio" / "notes.txt").unlink()
    (root / ".trackio" / L.TRACKIO_MARKER).write_text("{}")   # the workbench's folder, but a damaged database
    (root / ".trackio" / "dvao-workbench.db").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(C.ConfigError, match="not a readable trackio database.*move it away"):
        run(compose_cfg(args))
    assert not (root / "x").exists()
    for p in (root / ".trackio").iterdir():
        p.unlink()
    (root / ".trackio").rmdir()
    (root / ".trackio").write_text("a file")
    with pytest.raises(C.ConfigError, match="is a file"):
        run(compose_cfg(args))
    assert not (root / "x").exists()


def test_both_backends_get_the_store_keys_and_trackio_stays_out_of_home(tmp_path):
    root, home = tmp_path / "runs", tmp_path / "home"
    home.mkdir()
    bandit_run(root, home, "logger=[wandb,trackio]")
    run_dir = root / "demo" / "bandit" / "r0"
    mine = store_records(run_dir)
    assert [r["step"] for r in mine] == [10, 20, 10, 20]   # training records, then the evaluations
    keys = {k for r in mine for k in r if k != "step"}
    assert {"reward/obj1/mean", "weight/obj2/effective", "advantage/sq_mean", "eval/hv_frac"} <= keys
    # trackio: the same records, same keys, same steps and values
    assert by_step(trackio_records(root, "demo/bandit/r0")) == by_step(mine)
    # W&B offline: every key of the store is in its log
    blob = b"".join(Path(p).read_bytes() for p in glob.glob(str(run_dir / "wandb" / "offline-run-*" / "*.wandb")))
    assert blob and not [k for k in keys if k.encode() not in blob]
    # trackio's data folder is the workbench's (marked), under the runs root; nothing of trackio in HOME
    assert (root / ".trackio" / L.TRACKIO_MARKER).is_file()
    assert not [p for p in home.rglob("*") if "trackio" in str(p).lower()], sorted(map(str, home.rglob("*")))


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_trackio_mirrors_the_store_across_resume_and_overwrite(tmp_path):
    root, home = tmp_path / "runs", tmp_path / "home"
    home.mkdir()
    bandit_run(root, home, "logger=trackio", steps=20)
    bandit_run(root, home, "logger=trackio", "resume=true", steps=40)   # a finished run trains on: 30, 40
    run_dir = root / "demo" / "bandit" / "r0"
    mine = store_records(run_dir)
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [10, 20, 30, 40]
    assert by_step(trackio_records(root, "demo/bandit/r0")) == by_step(mine)   # each step once
    before = trackio_records(root, "demo/bandit/r0")
    bandit_run(root, home, "logger=trackio", "overwrite=true", "seed=1", steps=20)   # replaced: only the new run
    after = trackio_records(root, "demo/bandit/r0")
    assert by_step(after) == by_step(store_records(run_dir)) and max(r["step"] for r in after) == 20
    assert by_step(after) != by_step([r for r in before if r["step"] <= 20])   # another seed, other values


def test_trackio_imported_early_in_the_training_process_still_logs_under_the_root(tmp_path, monkeypatch):
    import trackio  # noqa: F401  (TRL's imports do this in a training process, with trackio's home default)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "runs"
    run(compose_cfg([*BANDIT, "steps=20", "logger=trackio", f"logger.root={root}", f"run_dir={root}/demo/bandit/r0"]))
    assert by_step(trackio_records(root, "demo/bandit/r0")) == by_step(store_records(root / "demo" / "bandit" / "r0"))


def test_a_dead_trackio_writer_never_stops_the_run(tmp_path, caplog):
    root = tmp_path / "runs"
    settings = L.TrackioSettings(root=str(root), project="dvao-workbench", name="x/r", group="x")
    with L.RunLogger(root / "x" / "r", config={"a": 1}, trackio=settings) as logger:
        logger.log(1, {"train/loss": 0.5})
        (backend,) = logger._backends
        backend.child.kill()
        backend.child.wait()
        logger.log(2, {"train/loss": 0.4})   # a warning, not an error
        logger.log(3, {"train/loss": 0.3})
        logger.finish({"step": 3})
    assert store.read_status(root / "x" / "r")["status"] == "done"
    assert [r["step"] for r in records(root / "x" / "r" / store.METRICS)] == [1, 2, 3]
    assert sum("trackio writer stopped" in r.message for r in caplog.records) == 1
