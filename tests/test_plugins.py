"""Plug-ins (``plugins=[...]``), ``method=custom``, the user's own config dir and ``model=hf`` labels: what a
researcher brings from outside the package is valid wherever the package's own options are (workbench/plugins.py,
workbench/train/config.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tests.user_project import isolated_registries, project, write_module  # noqa: F401
from workbench import advantages, plugins
from workbench.train import config as C
from workbench.train.config import CONF_DIR, ConfigError

ROOT = Path(__file__).resolve().parents[1]

ESTIMATOR = '''
import torch
from workbench.advantages import AdvantageResult, register


@register("{name}", stateful={stateful})
def est(rewards, weights, *, scale: float = 1.0, state=None):
    r = torch.nan_to_num(rewards)
    mean = r.mean(dim=1, keepdim=True)
    adv = scale * ((r - mean) * torch.as_tensor(weights)).sum(-1)
    result = dict(advantages=adv, group_mean=mean.squeeze(1), group_std=r.std(dim=1, unbiased=False),
                  weights=torch.as_tensor(weights).expand(r.shape[0], -1).clone())
    if {stateful}:
        calls = 1.0 if state is None else float(state["calls"]) + 1.0
        result["state"] = {{"calls": torch.tensor(calls)}}
    return AdvantageResult(**result)
'''


def compose_in(folder: Path, overrides: list[str], config_dir: Path | None = None):
    """The composed config, as ``python -m workbench.run [--config-dir DIR] <overrides>`` would build it."""
    over = list(overrides) + (["hydra.searchpath=[file://" + str(config_dir) + "]"] if config_dir else [])
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=over)


def test_plugin_file_registers_an_estimator_and_custom_method_carries_its_name(project):
    write_module(project, "my_est", ESTIMATOR.format(name="my_est", stateful=False))
    spec = C.load(compose_in(project, ["plugins=[my_est.py]", "method=custom", "method.estimator=my_est",
                                       "+method.options.scale=2.0"]))
    assert "my_est" in advantages.names() and not advantages.is_stateful("my_est")
    assert spec.method.name == "my_est" and spec.method.options == {"scale": 2.0}
    assert spec.run_dir == f"runs/adhoc/math/my_est-tiny-G{spec.G}-w0.8-0.2-s0"
    assert plugins.load(["my_est.py"])  # a second import is a no-op, not a duplicate registration


def test_plugin_module_path_and_relabelled_method(project):
    pkg = project / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    write_module(pkg, "estimators", ESTIMATOR.format(name="pkg_est", stateful=True))
    spec = C.load(compose_in(project, ["plugins=[mypkg.estimators]", "method=custom", "method.estimator=pkg_est",
                                       "method.name=pkg-v2"]))
    assert spec.method.name == "pkg-v2" and advantages.is_stateful("pkg_est")
    assert "/pkg-v2-tiny-" in spec.run_dir


@pytest.mark.parametrize("plugin_text, entry, words", [
    (None, "missing.py", ["missing.py", "no such file"]),
    (None, "no_such_mod", ["no module named 'no_such_mod'", "PYTHONPATH"]),
    ("raise RuntimeError('boom')", "broken.py", ["broken", "RuntimeError: boom"]),
    ("import not_installed_dep", "needs_dep.py", ["needs_dep", "not_installed_dep"]),
    ("", "json.py", ["json", "rename"]),
    (None, "bad name!", ["not a module path"]),
])
def test_plugin_errors_name_the_plugin_and_the_fix(project, plugin_text, entry, words):
    if plugin_text is not None:
        (project / entry).write_text(plugin_text)
    with pytest.raises(ConfigError) as err:
        C.load(compose_in(project, [f"plugins=[{entry!r}]" if " " in entry else f"plugins=[{entry}]"]))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_duplicate_registration_is_refused(project):
    write_module(project, "dup_est", ESTIMATOR.format(name="dvao", stateful=False))
    with pytest.raises(ConfigError) as err:
        C.load(compose_in(project, ["plugins=[dup_est.py]"]))
    assert "already registered" in str(err.value) and "dup_est" in str(err.value)


@pytest.mark.parametrize("body, words", [
    ("raise ZeroDivisionError('x')", ["'bad_est' raised ZeroDivisionError"]),
    ("return 1.0", ["a float, not an AdvantageResult"]),
    ("return AdvantageResult(advantages=torch.ones(3), group_mean=torch.zeros(1, 1), group_std=torch.zeros(1, 1), "
     "weights=torch.ones(1, 1))", ["advantages of shape (3,)"]),
    ("return AdvantageResult(advantages=torch.full((1, 2), float('nan')), group_mean=torch.zeros(1, 1), "
     "group_std=torch.zeros(1, 1), weights=torch.ones(1, 1))", ["non-finite advantages"]),
])
def test_a_broken_estimator_fails_at_validation(project, body, words):
    write_module(project, "bad_est", "import torch\nfrom workbench.advantages import AdvantageResult, register\n\n"
                 f"@register('bad_est')\ndef bad(rewards, weights):\n    {body}\n")
    with pytest.raises(ConfigError) as err:
        C.load(compose_in(project, ["plugins=[bad_est.py]", "method=custom", "method.estimator=bad_est"]))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_user_config_dir_options_compose_and_validate(project):
    conf = project / "conf"
    (conf / "method").mkdir(parents=True)
    (conf / "task").mkdir()
    (conf / "method" / "mine.yaml").write_text("name: mine\nestimator: mine_est\noptions: {}\nonly_objective: null\n")
    (conf / "task" / "mytask.yaml").write_text("defaults: [custom, _self_]\nname: mytask\n"
                                               "rewards: [user_rewards_mod.has_digit]\ndata: {path: prompts.jsonl}\n")
    write_module(project, "mine_plugin", ESTIMATOR.format(name="mine_est", stateful=False))
    spec = C.load(compose_in(project, ["method=mine", "task=mytask", "plugins=[mine_plugin.py]"], config_dir=conf))
    assert (spec.method.name, spec.task["name"], spec.task["builder"]) == ("mine", "mytask", "custom")
    assert spec.run_dir.startswith("runs/adhoc/mytask/mine-tiny-")
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException) as err:  # Hydra's own message lists the package's and the user's
        compose_in(project, ["method=mien"], config_dir=conf)
    assert "mine" in str(err.value) and "dvao" in str(err.value)


def test_model_hf_label_defaults_to_the_folder_name(project):
    for over, label in ((["model.path=/data/models/my-ckpt/"], "my-ckpt"),
                        (["model.hub_name=Qwen/Qwen2.5-0.5B"], "Qwen2.5-0.5B"),
                        (["model.path=/data/x", "model.name=nice"], "nice")):
        spec = C.load(compose_in(project, ["model=hf", *over]))
        assert spec.model["name"] == label and f"-{label}-G" in spec.run_dir
    spec = C.load(compose_in(project, ["model=qwen2.5-0.5b", "model.path=/data/x", "model.name=mine"]))
    assert spec.model["name"] == "mine"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.run", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_cli_refuses_an_estimator_swapped_into_a_named_method(project):
    write_module(project, "cli_est", ESTIMATOR.format(name="cli_est", stateful=False))
    out = run_cli(project, "method=rc", "method.estimator=cli_est", "plugins=[cli_est.py]", "logger=none",
                  "run_dir=run")
    assert out.returncode == 2, out.stderr
    assert "method=custom method.estimator=cli_est" in out.stdout + out.stderr
    assert not (project / "run").exists()


def test_a_submitit_sweep_imports_the_plugin_in_its_jobs(project):
    """Each submitit job is a fresh process started elsewhere: it imports the plug-in itself (from the launch
    folder), so the sweep's runs are named after, and trained with, the user's stateful estimator."""
    write_module(project, "sub_est", ESTIMATOR.format(name="sub_est", stateful=True))
    out = subprocess.run([sys.executable, "-m", "workbench.run", "-m", "hydra/launcher=submitit_cpu", "logger=none",
                          "task=bandit", "steps=10", "task.contexts=16", "plugins=[sub_est.py]", "method=custom",
                          "method.estimator=sub_est", "seed=0,1", "sweep=sub", "hydra.sweep.dir=sweep"],
                         cwd=project, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert "2 finished, 0 skipped (already done), 0 failed" in out.stdout + out.stderr, out.stderr[-3000:]
    runs = sorted((project / "runs" / "sub" / "bandit").iterdir())
    assert [r.name.split("-")[0] for r in runs] == ["sub_est", "sub_est"]
    import json

    assert all(json.loads((r / "summary.json").read_text())["method"] == "sub_est" for r in runs)


def test_a_stateful_plugin_estimator_carries_saves_and_resumes_its_state(project, tiny_math_dir, tmp_path):
    """A plug-in's stateful estimator gets its previous state each training step; the state is saved with every
    checkpoint and read back on resume, as for the built-in dvao_shrink_ema (the estimator counts its calls)."""
    import json

    from tests.test_run_support import fast_cfg
    from workbench.run import run

    write_module(project, "state_est", ESTIMATOR.format(name="state_est", stateful=True))
    base = ["plugins=[state_est.py]", "method=custom", "method.estimator=state_est", "train.save_every=1",
            "train.save_limit=5", f"model.path={tiny_math_dir}", "model=hf", "model.name=tinymath",
            "task.eval.n_prompts=4"]
    run_dir = tmp_path / "run"
    summary = run(fast_cfg(run_dir, *base, "steps=2"))
    assert summary["method"] == "state_est" and summary["model"] == "tinymath"

    def calls(step: int) -> float:
        return json.loads((run_dir / "checkpoints" / f"checkpoint-{step}" / "estimator_state.json").read_text())["calls"]

    assert (calls(1), calls(2)) == (1.0, 2.0)
    run(fast_cfg(run_dir, *base, "steps=3", "resume=true"))
    assert calls(3) == 3.0  # resumed from checkpoint-2's state, not a fresh one


def test_resume_refuses_when_the_users_data_changed(project, tiny_math_dir, tmp_path):
    from tests.test_run_support import fast_cfg
    from workbench.run import run

    base = ["task=custom", "task.data.path=prompts.jsonl", "task.rewards=[user_rewards_mod.has_digit]", "model=hf",
            f"model.path={tiny_math_dir}", "task.eval.n_prompts=2"]
    run_dir = tmp_path / "run"
    run(fast_cfg(run_dir, *base))
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    with open(project / "prompts.jsonl", "a") as fh:
        fh.write('{"prompt": "99+1=", "answer": "100"}\n')
    with pytest.raises(ConfigError, match="data changed since it started"):
        run(fast_cfg(run_dir, *base, "steps=3", "resume=true"))
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
