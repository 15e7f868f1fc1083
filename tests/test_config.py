"""Config composition and validation for `python -m workbench.run`: no model is ever loaded here."""
from __future__ import annotations

import pytest
from hydra.errors import MissingConfigException

from tests.test_run_support import compose_cfg
from workbench import advantages
from workbench.rundir import decide
from workbench.run import run, wandb_settings
from workbench.train import config as C


# Options that need one more key to compose into a runnable config (their yaml leaves it required).
REQUIRED = {("method", "custom"): ["method.estimator=dvao"]}


@pytest.mark.parametrize("group", ["method", "task", "model", "logger"])
def test_every_group_option_composes_and_validates(group):
    assert C.choices(group), f"conf/{group}/ is empty"
    for name in C.choices(group):
        value = getattr(C.load(compose_cfg([f"{group}={name}", *REQUIRED.get((group, name), [])])), group)
        if group == "logger":  # the logger group switches backends on: none is the empty set
            assert value.backends == ([] if name == "none" else [name])
            continue
        label = value["name"] if isinstance(value, dict) else value.name
        assert label == ("dvao" if (group, name) == ("method", "custom") else name)


def test_method_names_match_files_and_estimators():
    assert set(C.choices("method")) == {"rc", "ac", "gdpo", "dvao", "grpo_nostd", "single", "gd2po", "rdpo", "mo_grpo",
                                        "rc_shrink", "dvao_shrink", "dvao_shrink_ema", "jspo", "custom"}
    for name in set(C.choices("method")) - {"custom"}:
        spec = C.load(compose_cfg([f"method={name}"]))
        assert spec.method.name == name and spec.method.estimator in advantages.names()


def test_defaults_are_the_cpu_job():
    spec = C.load(compose_cfg())
    assert (spec.method.name, spec.task["name"], spec.model["name"], spec.logger.backends) == ("dvao", "math", "tiny", ["wandb"])
    assert spec.completions_per_step == spec.train.prompts_per_step * spec.G
    assert spec.run_dir == f"runs/adhoc/math/dvao-tiny-G{spec.G}-w0.8-0.2-s0"  # math's task.default_weights


def test_run_dir_names_weights_and_sweep():
    spec = C.load(compose_cfg(["weights=[0.3,0.7]", "sweep=math", "seed=3", "method=rc"]))
    assert spec.run_dir == f"runs/math/math/rc-tiny-G{spec.G}-w0.3-0.7-s3"


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(MissingConfigException) as err:
        compose_cfg(["method=dvaoo"])
    assert "dvao" in str(err.value) and "gdpo" in str(err.value)


@pytest.mark.parametrize("override, words", [
    ("G=1", ["G=1", ">= 2"]),
    ("train.batch_size=10", ["train.batch_size=10", "G=8", "8 or 16"]),
    ("+train.lr=0.1", ["train.lr", "learning_rate"]),
    ("+colour=red", ["colour", "valid keys"]),
    ("steps=0", ["steps", ">= 1"]),
    ("method.estimator=nope", ["nope", "dvao"]),
    ("method.name=my/method", ["method.name", "letters, digits"]),
    ("model.name=gpt:9", ["model.name", "letters, digits"]),
    ("method=custom", ["method.estimator is not set", "dvao", "plugins"]),
    ("+plugins=[no_such_plugin_module]", ["no_such_plugin_module", "no module named"]),
    ("+plugins=[missing_file.py]", ["missing_file.py", "no such file"]),
    ("logger.mode=sometimes", ["logger.mode", "offline"]),
    ("train.temperature=0", ["train.temperature"]),
    ("method=gd2po +method.options.thresold=0.2", ["method.options", "thresold", "unexpected keyword"]),
    ("method=gd2po +method.options.threshold=5", ["method.options", "threshold must be a number in [0, 1]"]),
    ("method=dvao_shrink_ema method.options.memory=1.0", ["memory must be a number in [0, 1)"]),
    ("+method.options.state=0", ["state is carried by the trainer"]),
])
def test_bad_values_fail_naming_key_and_fix(override, words):
    with pytest.raises(C.ConfigError) as err:
        C.load(compose_cfg(override.split()))
    for word in words:
        assert word in str(err.value)


def test_objective_weights_checked_against_the_task():
    objectives = ["accuracy", "length"]
    spec = C.load(compose_cfg())                                   # math's task.default_weights
    assert C.objective_weights(spec, objectives) == pytest.approx([0.8, 0.2])
    assert C.objective_weights(C.load(compose_cfg(["weights=null"])), objectives) == [0.5, 0.5]
    assert C.load(compose_cfg(["task=tool"])).weights is None           # no default_weights: equal
    three = C.load(compose_cfg(["task.objectives=[accuracy,length,format]"]))
    with pytest.raises(C.ConfigError, match=r"\(task.default_weights\) has 2 entries.*weights=null"):
        C.objective_weights(three, objectives + ["format"])
    assert C.objective_weights(C.load(compose_cfg(["weights=[3,1]"])), objectives) == [0.75, 0.25]
    for bad, word in (("weights=[1,1,1]", "3 entries"), ("weights=[-1,2]", ">= 0"), ("weights=[0,0]", "all 0")):
        with pytest.raises(C.ConfigError, match=word):
            C.objective_weights(C.load(compose_cfg([bad])), objectives)
    single = C.load(compose_cfg(["method=single", "weights=[0.2,0.8]"]))
    assert C.objective_weights(single, objectives) == [1.0, 0.0]


def test_bad_weights_fail_before_any_model_is_loaded(tmp_path, monkeypatch):
    import workbench.models

    def no_model(*a, **k):
        raise AssertionError("a model was loaded before validation finished")

    monkeypatch.setattr(workbench.models, "build", no_model)
    with pytest.raises(C.ConfigError, match="2 objectives"):
        run(compose_cfg([f"run_dir={tmp_path / 'r'}", "weights=[1,2,3]", "logger=none", "++task.data.n_train=50"]))
    assert not (tmp_path / "r").exists()


def test_wandb_names_and_tags_from_config():
    spec = C.load(compose_cfg(["method=ac", "G=4", "seed=2", "sweep=ablate-G", "logger.tags=[x]", "weights=null"]))
    s = wandb_settings(spec, 2)
    assert s.name == "ablate-G/math/ac-tiny-G4-wequal-s2"  # the run_dir relative to logger.root
    assert s.group == "ablate-G" and s.project == "dvao-workbench"
    assert {"ac", "math", "tiny", "G4", "K2", "seed2", "ablate-G", "x"} <= set(s.tags)
    assert wandb_settings(C.load(compose_cfg(["logger=none"])), 2) is None


def test_resume_refuses_a_different_run(tmp_path):
    from omegaconf import OmegaConf

    from workbench import store

    cfg = compose_cfg([f"run_dir={tmp_path}", "method=rc"])
    store.RunStore(tmp_path).write_config(OmegaConf.to_yaml(cfg))
    spec = C.load(compose_cfg([f"run_dir={tmp_path}", "method=dvao", "resume=true"]))
    resolved = OmegaConf.to_container(compose_cfg([f"run_dir={tmp_path}", "method=dvao"]), resolve=True)
    with pytest.raises(C.ConfigError, match="method.name: 'rc' in the run dir, 'dvao' now"):
        decide(tmp_path, spec, resolved)


def test_fresh_run_never_deletes_a_foreign_directory(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    spec = C.load(compose_cfg([f"run_dir={tmp_path}"]))
    with pytest.raises(C.ConfigError, match="did not create"):
        decide(tmp_path, spec, {})
    assert (tmp_path / "thesis.tex").read_text() == "precious"
