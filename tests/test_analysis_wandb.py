"""W&B dashboards and W&B loading, without any network: panel spec, skip paths, report objects."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from analysis import synthetic, wandb_report
from analysis.load import wandb_row
from analysis.stability import panel_keys
from workbench import metrics as M

OBJ, AXES = ["accuracy", "length"], ["accuracy", "length_ok"]


def test_panel_spec_sections_hold_the_metric_keys_of_their_section():
    spec = wandb_report.panel_spec(OBJ, AXES)
    assert tuple(spec) == wandb_report.SECTIONS
    first = {"objectives": M.REWARD, "weights": M.WEIGHT, "variances": M.VARIANCE, "advantages": M.ADVANTAGE,
             "train": M.TRAIN, "eval": M.EVAL}
    keys = set()
    for section, panels in spec.items():
        for _, ks in panels:
            assert all(k.split("/")[0] == first[section] for k in ks), (section, ks)
            keys.update(ks)
    # every curve the local stability plot draws is also a W&B panel, and so is every logged key
    assert set(panel_keys(OBJ)) <= keys
    logged = synthetic._curves("dvao", [0.5, 0.5], [0.5, 0.5], 3, 4, np.random.default_rng(0))
    assert set(logged) - {M.LEARNING_RATE} <= keys
    assert ("scatter", ["eval/accuracy", "eval/length_ok"]) in spec["eval"]
    with pytest.raises(ValueError, match="objectives"):
        wandb_report.panel_spec([], AXES)


def test_workspace_and_report_objects_are_built_offline():
    pytest.importorskip("wandb_workspaces")
    spec = wandb_report.panel_spec(OBJ, AXES)
    workspace = wandb_report.build_workspace("me", "proj", spec)
    assert [s.name for s in workspace.sections] == list(spec)
    assert [len(s.panels) for s in workspace.sections] == [len(p) for p in spec.values()]
    line = workspace.sections[0].panels[0]
    assert line.y == [M.reward_mean("accuracy")] and line.groupby_rangefunc == "stddev"
    report = wandb_report.build_report("me", "proj", spec)
    assert report.project == "proj" and len(report.blocks) == 2 * len(spec)


def test_check_online_skips_quickly(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_report.check_online() == (False, "WANDB_MODE=offline; set WANDB_MODE=online to build dashboards")
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    ok, why = wandb_report.check_online()
    assert not ok and "WANDB_API_KEY" in why
    monkeypatch.setenv("WANDB_API_KEY", "not-a-key")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")     # nothing listens on the discard port
    start = time.monotonic()
    ok, why = wandb_report.check_online(timeout=2)
    assert not ok and "cannot reach the W&B server 127.0.0.1:9" in why and time.monotonic() - start < 5


def test_command_prints_a_skip_message_offline_and_never_hangs(tmp_path):
    synthetic.write_run(tmp_path / "runs", method="rc", steps=4)
    env = {"PATH": "/usr/bin:/bin", "WANDB_MODE": "offline", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "analysis.wandb_report", "--project", "p", "--runs",
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("skipped: W&B dashboards not built: WANDB_MODE=offline")
    assert wandb_report.main(["--project", "p", "--objectives", "a", "b", "--eval-axes", "x", "y", "--dry-run"]) == 0


def test_wandb_row_maps_config_and_summary_to_the_runs_table():
    config = {"method": {"name": "dvao", "estimator": "dvao"}, "task": {"name": "math"}, "model": {"name": "tiny"},
              "G": 8, "seed": 3, "weights": [0.3, 0.7], "sweep": "math"}
    summary = {"reward/accuracy/mean": 0.5, "reward/length/mean": 0.4, M.REWARD_TOTAL: 0.43,
               "eval/accuracy": 0.61, "eval/length_ok": 0.9, "_step": 50}
    row, why = wandb_row("run-1", "finished", config, summary)
    assert why is None
    assert (row["method"], row["task"], row["model"], row["seed"], row["weights"], row["weight"]) == (
        "dvao", "math", "tiny", 3, "0.3,0.7", 0.3)
    assert row["objectives"] == ("accuracy", "length") and row["eval_axes"] == ("accuracy", "length_ok")
    assert row["eval/accuracy"] == 0.61 and row["step"] == 50
    assert wandb_row("run-2", "crashed", config, summary) == (None, "W&B state crashed")
    assert wandb_row("run-3", "finished", config, {"_step": 2})[0] is None


def test_load_wandb_refuses_offline_with_a_hint(monkeypatch):
    from analysis.load import load_wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(RuntimeError, match="load the local runs/ folder instead"):
        load_wandb("proj")
