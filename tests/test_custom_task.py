"""task=custom: the user's data file in every format, the held-out split, reward functions by import path, and
every bad input refused before a run starts, naming what to fix (workbench/tasks/custom_task.py, user_rewards.py)."""
from __future__ import annotations

import json
import math

import pytest

from tests.user_project import custom_task_cfg, isolated_registries, project, write_module, write_rows  # noqa: F401
from workbench import tasks
from workbench.tasks import custom_task
from workbench.tasks.user_rewards import RewardValueError, check_values


def build(**over):
    return tasks.build(custom_task_cfg(**over))


def test_jsonl_task_objectives_columns_and_split(project):
    task = build()
    assert task.objectives == ["has_digit", "echo_answer"]
    assert [a.name for a in task.eval_axes] == task.objectives
    train, held = task.train_dataset(), task.eval_dataset()
    assert len(train) == 18 and len(held) == 2  # 10% of 20 distinct prompts held out
    assert set(train.column_names) == {"prompt", "answer"}
    assert not set(train["prompt"]) & set(held["prompt"])
    record = task.run_record()["data_split.json"]
    rows = [json.loads(line) for line in (project / "prompts.jsonl").read_text().splitlines()]
    assert [rows[i]["prompt"] for i in record["eval_rows"]] == held["prompt"]
    assert record["n_train"] == 18 and record["n_eval"] == 2 and len(record["sha256"]) == 64


def test_split_is_seeded_disjoint_by_prompt_and_keeps_repeats_together(project):
    rows = [{"prompt": f"p{i % 10}", "answer": str(i)} for i in range(40)]  # every prompt four times
    (project / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = build(**{"data.eval_fraction": 0.3}), build(**{"data.eval_fraction": 0.3})
    c = build(**{"data.eval_fraction": 0.3, "data.seed": 1})
    held = set(a.eval_dataset()["prompt"])
    assert len(held) == 3 and len(a.eval_dataset()) == 12  # 3 of 10 distinct prompts, each with its 4 rows
    assert not held & set(a.train_dataset()["prompt"])
    assert a.eval_dataset()["prompt"] == b.eval_dataset()["prompt"]
    assert set(c.eval_dataset()["prompt"]) != held


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "save_to_disk", "datasetdict"])
def test_every_format_reads_the_same_rows(project, fmt):
    import datasets

    ds = datasets.load_dataset("json", data_files=str(project / "prompts.jsonl"), split="train")
    target = {"json": "data.json", "csv": "data.csv", "parquet": "data.parquet"}.get(fmt, "saved")
    if fmt == "json":
        (project / target).write_text(json.dumps(ds.to_list()))
    elif fmt == "csv":  # written as a user would (datasets' own to_csv breaks on pandas 3)
        import csv

        with open(project / target, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["prompt", "answer"])
            writer.writeheader()
            writer.writerows(ds.to_list())
    elif fmt == "parquet":
        ds.to_parquet(str(project / target))
    elif fmt == "save_to_disk":
        ds.save_to_disk(str(project / target))
    else:
        datasets.DatasetDict({"train": ds, "test": ds.select(range(2))}).save_to_disk(str(project / target))
    task = build(**{"data.path": target})
    reference = build()
    assert task.train_dataset()["prompt"] == reference.train_dataset()["prompt"]
    assert [str(a) for a in task.eval_dataset()["answer"]] == reference.eval_dataset()["answer"]


def test_eval_path_chat_prompts_and_prompt_key(project, caplog):
    write_rows(project / "train.jsonl", n=12, chat=True, key="question")
    write_rows(project / "held.jsonl", n=4, chat=True, key="question")
    task = build(**{"data.path": "train.jsonl", "data.eval_path": "held.jsonl", "data.prompt_key": "question"})
    assert len(task.train_dataset()) == 12 and len(task.eval_dataset()) == 4
    assert task.train_dataset()[0]["prompt"] == [{"role": "user", "content": "0+1="}]
    assert "overlap" not in caplog.text
    assert "also training prompts" in caplog.text  # held.jsonl's 4 prompts are the first 4 of train.jsonl
    assert task.run_record()["data_split.json"]["eval_path"].endswith("held.jsonl")


def test_evaluate_scores_the_reward_functions_on_held_out_completions(project):
    task = build(rewards=["user_rewards_mod.echo_answer", "user_rewards_mod.sometimes_missing",
                          "user_rewards_mod.async_digit"], objectives=["echo", "missing", "digit"])
    assert task.objectives == ["echo", "missing", "digit"]
    rows = {"prompt": ["1+2=", "3+4=", "5+6=", "7+8="], "answer": ["3", "7", "0", "9"]}
    scores = task.evaluate(rows["prompt"], ["3", "x", "x", "9"], rows, [2, 2, 2, 2], completion_ids=[[1]] * 4)
    assert scores["echo"] == pytest.approx(0.5) and scores["digit"] == pytest.approx(0.5)
    assert scores["missing"] == pytest.approx(0.5)  # rows 1 and 3 None, row 0 NaN: only row 2's 0.5 counts
    assert scores["mean_length"] == 2


def test_missing_rewards_are_none_not_zero(project):
    fn = build(rewards=["user_rewards_mod.sometimes_missing"]).reward_funcs()[0]
    assert fn.__name__ == "sometimes_missing"
    values = check_values("m", fn(prompts=["a"] * 4, completions=["x"] * 4), 4)
    assert values == [None, None, 0.5, None]


@pytest.mark.parametrize("over, words", [
    ({"data.path": None}, ["task.data.path is not set"]),
    ({"data.path": "nope.jsonl"}, ["nope.jsonl", "no such file"]),
    ({"data.path": "empty.jsonl"}, ["empty.jsonl", "empty"]),
    ({"data.path": "junk.jsonl"}, ["junk.jsonl", "cannot read"]),
    ({"data.path": "prompts.txt"}, ["unknown file type .txt"]),
    ({"data.prompt_key": "question"}, ["no prompt column 'question'", "answer", "prompt_key"]),
    ({"data.path": "bad_prompt.jsonl"}, ["row 1", "prompt"]),
    ({"data.path": "reserved.jsonl"}, ["trainer_state", "rename"]),
    ({"data.path": "two.jsonl"}, ["cannot be split", "eval_path"]),
    ({"data.eval_fraction": 1.5}, ["eval_fraction=1.5"]),
    ({"rewards": []}, ["task.rewards is empty"]),
    ({"rewards": ["user_rewards_mod"]}, ["task.rewards[0]", "module.function"]),
    ({"rewards": ["no_such_module.f"]}, ["no module named 'no_such_module'"]),
    ({"rewards": ["user_rewards_mod.nope"]}, ["has no 'nope'", "has_digit"]),
    ({"rewards": ["user_rewards_mod.NOT_A_FUNCTION"]}, ["not a function"]),
    ({"rewards": ["user_rewards_mod.no_kwargs"]}, ["wrong signature", "**kwargs", "answer"]),
    ({"rewards": ["user_rewards_mod.raises_on_empty"]}, ["raises_on_empty", "ZeroDivisionError", "row 0", "''"]),
    ({"rewards": ["user_rewards_mod.wrong_length"]}, ["wrong_length", "1 values for 8 completions"]),
    ({"rewards": ["user_rewards_mod.returns_text"]}, ["returns_text", "'good'", "row 0"]),
    ({"rewards": ["user_rewards_mod.returns_inf"]}, ["returns_inf", "inf", "finite"]),
    ({"rewards": ["user_rewards_mod.has_digit", "user_rewards_mod.has_digit"]}, ["repeat", "task.objectives"]),
    ({"objectives": ["a"]}, ["1 names for 2 reward functions"]),
    ({"objectives": ["a/b", "c"]}, ["'a/b'", "letters"]),
])
def test_bad_input_is_refused_with_a_fix(project, over, words):
    (project / "empty.jsonl").write_text("")
    (project / "junk.jsonl").write_bytes(b"\x00\xff\x89PNG\r\n\x1a\n" * 50)
    (project / "prompts.txt").write_text("hello\n")
    (project / "bad_prompt.jsonl").write_text('{"prompt": "a", "answer": "1"}\n{"prompt": "", "answer": "2"}\n')
    (project / "reserved.jsonl").write_text('{"prompt": "a", "trainer_state": 1}\n{"prompt": "b", "trainer_state": 2}\n')
    (project / "two.jsonl").write_text('{"prompt": "a", "answer": "1"}\n')
    with pytest.raises(ValueError) as err:
        build(**over)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_a_plugin_file_and_a_reward_path_share_one_import(project):
    from workbench import plugins

    module = plugins.load(["user_rewards_mod.py"])[0]
    task = build(rewards=["user_rewards_mod.has_digit"])
    assert task.reward_funcs()[0].__wrapped__ is module.has_digit


@pytest.mark.parametrize("values, n, words", [
    ([1.0, None, float("nan")], 3, None),
    ((1, 0), 2, None),
    ("1.0", 1, ["str", "list"]),
    ([1.0], 2, ["1 values for 2 completions"]),
    ([1.0, "x"], 2, ["'x'", "row 1"]),
    ([1.0, -math.inf], 2, ["-inf", "row 1"]),
])
def test_check_values(values, n, words):
    if words is None:
        out = check_values("f", values, n)
        assert len(out) == n and all(v is None or isinstance(v, float) for v in out)
        return
    with pytest.raises(RewardValueError) as err:
        check_values("f", values, n, prompts=["p0", "p1"])
    assert "'f'" in str(err.value) and all(w in str(err.value) for w in words)


def test_custom_task_needs_a_model_of_its_own(project):
    from hydra import compose, initialize_config_dir

    from workbench.run import validate
    from workbench.train.config import CONF_DIR, ConfigError

    over = ["task=custom", "task.data.path=prompts.jsonl", "task.rewards=[user_rewards_mod.has_digit]",
            f"run_dir={project / 'run'}", "logger=none"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=over)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert "model=hf model.path=DIR" in str(err.value)
    assert not (project / "run").exists()


def test_task_name_is_a_label_and_builder_dispatches(project):
    task = build(name="my-arith")
    assert task.name == "my-arith" and isinstance(task, custom_task.CustomTask)
    with pytest.raises(KeyError) as err:
        tasks.build({**custom_task_cfg(), "builder": "nope"})
    assert "registered tasks" in str(err.value) and "custom" in str(err.value)
