"""Weight schedules (workbench/train/schedule.py): the weights per step, validation before anything is written,
the estimator receiving each step's weights (also after resume=true), the logged base weights, the bandit, and
the analysis keeping a scheduled run as its own sweep point."""
from __future__ import annotations

import json
import math

import pytest
import torch

from tests.test_run_support import compose_cfg, fast_cfg, records
from workbench import advantages
from workbench import metrics as M
from workbench.run import run, validate
from workbench.train import schedule as S
from workbench.train.config import ConfigError

OBJ = ["accuracy", "length"]


def test_linear_cosine_and_steps_give_the_documented_weights():
    lin = S.parse({"schedule": "linear", "start": [9, 1], "end": [1, 9], "ramp": 4}, OBJ, steps=10)
    assert lin(0) == pytest.approx([0.9, 0.1]) and lin(2) == pytest.approx([0.5, 0.5])
    assert lin(4) == pytest.approx([0.1, 0.9]) and lin(9) == pytest.approx([0.1, 0.9])   # holds after the ramp
    cos = S.parse({"schedule": "cosine", "start": [1, 0], "end": [0, 1]}, OBJ, steps=8)   # ramp: the whole run
    assert cos(0) == pytest.approx([1, 0]) and cos(4) == pytest.approx([0.5, 0.5])
    assert cos(2)[0] == pytest.approx(0.5 + 0.5 * math.cos(math.pi / 4))                # slower start than linear
    steps = S.parse({"schedule": "steps", "values": [[0.9, 0.1], [1, 1]], "at": [0, 3]}, OBJ, steps=6)
    assert [steps(s) for s in (0, 2, 3, 5)] == [[0.9, 0.1], [0.9, 0.1], [0.5, 0.5], [0.5, 0.5]]
    for sched in (lin, cos, steps):
        assert all(sum(sched(s)) == pytest.approx(1.0) for s in range(12))
    assert lin.label() == "linear-0.9-0.1-to-0.1-0.9-in4" and steps.label() == "steps-0.9-0.1@0-0.5-0.5@3"


@pytest.mark.parametrize("spec, message", [
    ({"schedule": "linaer", "start": [1, 0], "end": [0, 1]}, "weights.schedule='linaer'"),
    ({"schedule": "linear", "start": [1, 0, 0], "end": [0, 1]}, "weights.start=[1, 0, 0] must be a list of 2"),
    ({"schedule": "linear", "start": [1, -1], "end": [0, 1]}, "finite number >= 0"),
    ({"schedule": "linear", "start": [0, 0], "end": [0, 1]}, "are all 0"),
    ({"schedule": "cosine", "start": [1, 0], "end": [0, 1], "ramp": 0}, "weights.ramp=0"),
    ({"schedule": "linear", "start": [1, 0], "end": [0, 1], "values": []}, "weights.values is not a key"),
    ({"schedule": "steps", "values": [[1, 0], [0, 1]], "at": [1, 3]}, "starting at 0"),
    ({"schedule": "steps", "values": [[1, 0], [0, 1]], "at": [0]}, "one start step per entry"),
    ({"schedule": "steps", "values": [[1, 0], [0, 0]], "at": [0, 3]}, "weights.values[1]=[0, 0] are all 0"),
    ({"schedule": "steps", "values": [[1, 0], [0, 1]], "at": [0, 10]}, "never runs in a 10-step run"),
])
def test_a_bad_schedule_is_refused_naming_the_key(spec, message):
    with pytest.raises(ValueError) as err:
        S.parse(spec, OBJ, steps=10)
    assert message in str(err.value)


def test_a_bad_schedule_stops_the_run_before_its_directory_exists(tmp_path):
    run_dir = tmp_path / "run"
    cfg = fast_cfg(run_dir, "weights={schedule:linear,start:[1,0,0],end:[0,1]}")
    with pytest.raises(ConfigError, match=r"weights.start=\[1, 0, 0\].*objectives: \['accuracy', 'length'\]"):
        validate(cfg)
    with pytest.raises(ConfigError):
        run(cfg)
    assert not run_dir.exists()
    with pytest.raises(ConfigError, match="one objective only"):
        validate(fast_cfg(run_dir, "method=single", "weights={schedule:linear,start:[1,0],end:[0,1]}"))


def test_the_run_directory_is_named_by_the_schedule():
    cfg = compose_cfg(["weights={schedule:steps,values:[[0.9,0.1],[0.5,0.5]],at:[0,40]}"])
    assert cfg.run_dir.endswith("dvao-tiny-G8-wsteps-0.9-0.1-at0-0.5-0.5-at40-s0")
    cfg = compose_cfg(["weights={schedule:cosine,start:[0.9,0.1],end:[0.1,0.9],ramp:50}"])
    assert "-wcosine-0.9-0.1-to-0.1-0.9-in50-s0" in cfg.run_dir


def test_each_step_s_estimator_gets_the_schedule_s_weights_also_after_resume(tmp_path, monkeypatch):
    """Steps 0..3 of a 4-step linear ramp: the first run trains steps 1-2 (weights at 0 and 1), resume=true trains
    3-4 (weights at 2 and 3, not restarted from 0); metrics.jsonl carries each step's base weights."""
    calls = []
    get = advantages.get

    def spy_get(name):
        fn = get(name)

        def spied(rewards, weights, **kw):
            if rewards.shape[-1] == 2 and rewards.shape[0] > 1:     # not config validation's 1 x 2 x 1 probe
                calls.append([float(w) for w in torch.as_tensor(weights)])
            return fn(rewards, weights, **kw)
        return spied

    monkeypatch.setattr(advantages, "get", spy_get)
    spec = "weights={schedule:linear,start:[0.9,0.1],end:[0.3,0.7],ramp:3}"
    expected = S.parse({"schedule": "linear", "start": [0.9, 0.1], "end": [0.3, 0.7], "ramp": 3}, OBJ, steps=4)
    run_dir = tmp_path / "sched"
    run(fast_cfg(run_dir, spec))
    assert calls == [pytest.approx(expected(0)), pytest.approx(expected(1))]
    calls.clear()
    summary = run(fast_cfg(run_dir, spec, "steps=4", "resume=true"))
    assert calls == [pytest.approx(expected(2)), pytest.approx(expected(3))]
    logged = [[r[M.base_weight(o)] for o in OBJ] for r in records(run_dir / "metrics.jsonl")]
    assert logged == [pytest.approx(expected(s)) for s in range(4)]
    assert summary["weight_schedule"]["label"] == "linear-0.9-0.1-to-0.3-0.7-in3"
    assert summary["weights"] == pytest.approx(expected(3))


def test_a_static_run_logs_its_base_weights_every_step(tmp_path):
    run_dir = tmp_path / "static"
    run(fast_cfg(run_dir, "weights=[3,1]"))
    rows = records(run_dir / "metrics.jsonl")
    assert [(r[M.base_weight("accuracy")], r[M.base_weight("length")]) for r in rows] == [(0.75, 0.25)] * 2
    assert "weight_schedule" not in json.loads((run_dir / "summary.json").read_text())


def test_the_bandit_follows_a_schedule(tmp_path):
    run_dir = tmp_path / "bandit"
    cfg = compose_cfg(["task=bandit", "method=rc", "steps=20", "logger=none", f"run_dir={run_dir}", "task.log_every=1",
                       "weights={schedule:steps,values:[[1,0],[0,1]],at:[0,10]}"])
    summary = run(cfg)
    rows = records(run_dir / "metrics.jsonl")
    assert [r[M.base_weight("obj1")] for r in rows] == [1.0] * 10 + [0.0] * 10   # record of step s: weights at s-1
    assert summary["weight_schedule"]["label"] == "steps-1-0@0-0-1@10" and summary["weights"] == [0.0, 1.0]


def test_the_analysis_keeps_a_scheduled_run_as_its_own_point(tmp_path):
    from analysis.load import load_runs
    from workbench import store

    def fake(name, weights, schedule=None):
        d = tmp_path / name
        d.mkdir()
        summary = {"method": "rc", "task": "math", "model": "tiny", "seed": 0, "G": 4, "K": 2, "weights": weights,
                   "objectives": OBJ, "eval_axes": OBJ, "step": 4, "eval/accuracy": 0.5, "eval/length": 0.5}
        if schedule:
            summary["weight_schedule"] = schedule
        (d / store.SUMMARY).write_text(json.dumps(summary))
        (d / store.STATUS).write_text(json.dumps({"status": "done", "step": 4}))
        (d / store.CONFIG).write_text("method: rc\n")

    fake("static", [0.1, 0.9])
    fake("ramp", [0.1, 0.9], {"schedule": "linear", "label": "linear-0.9-0.1-to-0.1-0.9-in4"})
    runs = load_runs(tmp_path).runs.set_index("run")
    assert runs.loc["static", "weights"] == "0.1,0.9"
    assert runs.loc["ramp", "weights"] == "linear-0.9-0.1-to-0.1-0.9-in4"   # not merged with the static point


def test_a_scheduled_w_and_b_run_gets_the_same_sweep_point():
    from analysis.load import wandb_row

    config = {"method": {"name": "dvao"}, "task": {"name": "math"}, "model": {"name": "tiny"}, "G": 4, "seed": 0,
              "steps": 4, "weights": {"schedule": "linear", "start": [0.9, 0.1], "end": [0.1, 0.9], "ramp": 4},
              "loss": {"name": "dapo"}, "train": {"dynamic_sampling": "top_constant"}}
    summary = {"reward/accuracy/mean": 0.5, "reward/length/mean": 0.4, "eval/accuracy": 0.6, "_step": 4}
    row, why = wandb_row("r", "finished", config, summary)
    assert why is None and row["weights"] == "linear-0.9-0.1-to-0.1-0.9-in4" and row["weight"] == pytest.approx(0.3)
    assert (row["loss"], row["dynamic_sampling"]) == ("dapo", "top_constant")
    bad = {**config, "weights": {"schedule": "linear", "start": [1, 0]}}
    assert "weight schedule is invalid" in wandb_row("r", "finished", bad, summary)[1]
