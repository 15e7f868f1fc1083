"""examples/arith-project, copied to a folder outside the checkout and run there with only the commands its
README gives: a run, a 2-job sweep through the local launcher and its analysis, SIGTERM then resume, LoRA, and
(slow) two torchrun ranks. The user's estimator, model and objectives must name everything they produce."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.user_project import EXAMPLE

RUN = [sys.executable, "-m", "workbench.run", "--config-dir", "conf", "+experiment=arith", "logger=none"]
SHORT = ["steps=3", "eval.every=0", "task.eval.n_prompts=4", "task.eval.n_samples=2"]


@pytest.fixture(scope="module")
def example(tmp_path_factory, tiny_math_dir) -> Path:
    """The example project in a fresh folder, with step 1 of its README done (the tiny model exported)."""
    from workbench.models.tiny import export

    folder = tmp_path_factory.mktemp("outside") / "arith-project"
    shutil.copytree(EXAMPLE, folder)
    export(folder / "model")
    return folder


def sh(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_the_export_refuses_to_overwrite(example):
    out = subprocess.run([sys.executable, "-m", "workbench.models.tiny", "--out", "model"], cwd=example,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "exists" in out.stderr
    assert (example / "model" / "config.json").is_file()


def test_one_run_carries_the_users_names(example):
    sh(example, *RUN, *SHORT, "train.save_every=3")
    run_dir = example / "runs" / "adhoc" / "arith" / "ac_clip-tiny-arith-G8-wequal-s0"
    s = summary(run_dir)
    assert (s["method"], s["model"], s["task"]) == ("ac_clip", "tiny-arith", "arith")
    assert s["objectives"] == s["eval_axes"] == ["correct", "brief", "shows_work"]
    assert all(0.0 <= s[f"eval/{o}"] <= 1.0 for o in s["objectives"]) and s["trainable_params"] == s["total_params"]
    grpo = json.loads((run_dir / "grpo_config.json").read_text())
    assert grpo["num_generations"] == 8 and grpo["max_steps"] == 3 and grpo["learning_rate"] == 5e-5
    split = json.loads((run_dir / "data_split.json").read_text())
    assert split["n_train"] + split["n_eval"] == 200 and len(split["eval_rows"]) == 20
    first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward/correct/mean", "variance/brief/group_std", "weight/shows_work/effective"} <= set(first)
    assert "ac_clip" in (run_dir / "config.yaml").read_text()


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_a_sweep_then_the_analysis_name_the_users_estimator_and_axes(example):
    out = sh(example, *RUN[:3], "-m", *RUN[3:], "method=ac_clip,dvao",
             "hydra/launcher=local", "sweep=cmp", *SHORT, timeout=600)
    assert "2 finished, 0 skipped (already done), 0 failed" in out.stdout + out.stderr
    sh(example, sys.executable, "-m", "analysis.pareto", "runs/cmp", "--out", "reports/cmp")
    import pandas as pd

    runs = pd.read_csv(example / "reports" / "cmp" / "runs.csv")
    assert set(runs["method"]) == {"ac_clip", "dvao"} and set(runs["model"]) == {"tiny-arith"}
    assert {"eval/correct", "eval/brief", "eval/shows_work"} <= set(runs.columns)
    report = (example / "reports" / "cmp" / "report.md").read_text()
    assert "ac_clip" in report and "shows_work" in report
    assert (example / "reports" / "cmp" / "front_arith_tiny-arith.png").stat().st_size > 10_000


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_sigterm_then_resume_keeps_every_step(example):
    args = [*RUN, "steps=30", "eval.every=0", "task.eval.n_prompts=4", "train.save_every=2", "run_dir=runs/term"]
    proc = subprocess.Popen(args, cwd=example, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = example / "runs" / "term" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 143, out[-3000:]
    status = json.loads((example / "runs" / "term" / "status.json").read_text())
    assert status["status"] == "interrupted" and status["step"] < 30
    sh(example, *args, "resume=true", timeout=600)
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == list(range(1, 31))
    assert summary(example / "runs" / "term")["method"] == "ac_clip"


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_lora_trains_only_the_adapter(example):
    sh(example, *RUN, *SHORT, "model.lora.r=4", "train.save_every=3", "run_dir=runs/lora")
    s = summary(example / "runs" / "lora")
    assert 0 < s["trainable_params"] < s["total_params"] / 5
    checkpoint = example / "runs" / "lora" / "checkpoints" / "checkpoint-3"
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (checkpoint / "model.safetensors").exists()
    assert json.loads((checkpoint / "adapter_config.json").read_text())["r"] == 4


@pytest.mark.slow
def test_two_torchrun_ranks_with_lora(example):
    torchrun = Path(sys.executable).with_name("torchrun")
    sh(example, str(torchrun), "--standalone", "--nproc_per_node", "2", *RUN[1:], *SHORT, "model.lora.r=4",
       "run_dir=runs/ranks", timeout=600)
    s = summary(example / "runs" / "ranks")
    assert s["method"] == "ac_clip" and s["step"] == 3 and s["trainable_params"] < s["total_params"]
    assert os.path.isfile(example / "runs" / "ranks" / "checkpoints" / "checkpoint-3" / "adapter_model.safetensors")
