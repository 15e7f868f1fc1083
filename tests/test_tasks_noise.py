"""task.noise: the perturbed auxiliary objective of the noise ablation (workbench/tasks/noise.py)."""
from __future__ import annotations

import statistics

import pytest

from tests.conftest import task_with
from workbench.tasks.noise import NoiseSpec, perturb

ROWS = {"prompts": ["12+30="] * 400, "completions": ["Answer: 42"] * 400, "answer": ["42"] * 400}


def rewards(task, objective):
    fn = next(f for f in task.reward_funcs() if f.__name__ == objective)
    return fn(**ROWS)


def test_noise_perturbs_only_the_named_objective_with_the_asked_moments():
    clean = task_with("math")
    noisy = task_with("math", noise={"objective": "length", "std": 0.5, "scale": 3.0, "seed": 1})
    assert [f.__name__ for f in noisy.reward_funcs()] == clean.objectives == noisy.objectives
    assert rewards(noisy, "accuracy") == rewards(clean, "accuracy")
    base = rewards(clean, "length")
    assert set(base) == {1.0}
    got = rewards(noisy, "length")
    assert abs(statistics.mean(got) - 3.0) < 0.1 and abs(statistics.stdev(got) - 0.5) < 0.06
    assert noisy.eval_axes == clean.eval_axes, "evaluation scores the true objectives"


def test_noise_is_seeded_and_missing_stays_missing():
    spec = {"objective": "length", "std": 1.0, "scale": 1.0, "seed": 7}
    assert rewards(task_with("math", noise=spec), "length") == rewards(task_with("math", noise=spec), "length")

    def length(prompts=None, completions=None, **_):
        return [None, 1.0]

    noisy = perturb(length, NoiseSpec(**spec))
    out = noisy(completions=["a", "b"])
    assert noisy.__name__ == "length" and out[0] is None and out[1] != 1.0


def test_no_noise_returns_the_plain_task_and_bad_objective_is_named():
    assert type(task_with("math")).__name__ != "NoisyTask"
    with pytest.raises(ValueError, match="task.noise.objective='speed'.*objectives"):
        task_with("math", noise={"objective": "speed", "std": 0.1})


def test_noise_settings_become_summary_axes_for_the_ablation():
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF
    from workbench.train import config as C
    from workbench.train.llm import base_summary

    over = ["task.noise.objective=length", "task.noise.std=0.3", "task.noise.scale=3.0", "run_dir=/tmp/x"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        run = C.load(compose(config_name="config", overrides=over))
    summary = base_summary(run, ["accuracy", "length"], [0.5, 0.5], ["accuracy", "length"])
    assert (summary["noise"], summary["noise_scale"], summary["noise_objective"]) == (0.3, 3.0, "length")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        clean = C.load(compose(config_name="config", overrides=["run_dir=/tmp/x"]))
    assert "noise" not in base_summary(clean, ["accuracy", "length"], [0.5, 0.5], ["accuracy", "length"])
