"""Math task: rewards on hand-written completions, generator, DAPO loader, config validation."""
from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import conf_node, task_with
from workbench import tasks
from workbench.tasks import math_data, math_rewards as mr

ODD = ["", "   ", "Answer:", "\\boxed{", "\\boxed{}", "Answer: ∞ ünïcödé 🙂", "{" * 5000, "Answer:1" * 20000,
       "x" * 200_000, None, [{"role": "assistant", "content": "Answer: 7"}], 12345]


def task(**over):
    return task_with("math", **over)


def call(fn, completions, answers, ids=None):
    return fn(prompts=["p"] * len(completions), completions=completions, completion_ids=ids, answer=answers,
              trainer_state=None, log_metric=None)


@pytest.mark.parametrize("text, truth, expected", [
    ("12 08 05 Answer:582", "582", 1.0),
    ("Answer: 582", "582", 1.0),
    ("so \\boxed{582}.", "582", 1.0),
    ("Answer: 583", "582", 0.0),
    ("582", "582", 0.0),                             # no answer in the required form
    ("Answer: 1/2", "\\frac{1}{2}", 1.0),
    ("Answer: 0.5", "\\dfrac{1}{2}", 1.0),
    ("Answer: $1,234$", "1234", 1.0),
    ("Answer: \\text{east}", "East", 1.0),
    ("Answer: 3\nAnswer: 4", "4", 1.0),              # the last answer counts
    ("\\boxed{\\frac{3}{4}} Answer: 1", "3/4", 1.0),  # boxed beats the marker
])
def test_accuracy_hand_cases(text, truth, expected):
    assert mr.accuracy_score(text, truth) == expected


@pytest.mark.parametrize("text, expected", [
    ("12 08 05 Answer:582", 1.0), ("Answer: 582\n", 1.0), ("\\boxed{7}", 1.0),
    ("Answer: 1 Answer: 2", 0.0), ("Answer: 5\nmore text", 0.0), ("582", 0.0), ("Answer:", 0.0),
    ("\\boxed{1} Answer: 1", 0.0),
])
def test_format_hand_cases(text, expected):
    assert mr.format_score(text) == expected


def test_reward_funcs_named_and_ordered():
    t = task(objectives=["accuracy", "length", "format"])
    assert [f.__name__ for f in t.reward_funcs()] == t.objectives == ["accuracy", "length", "format"]
    assert [a.name for a in t.eval_axes] == t.objectives


def test_length_uses_completion_ids_then_characters():
    t = task(length_limit=5)
    _, length = t.reward_funcs()
    assert call(length, ["Answer: 1234567"], ["1"], ids=[[1, 2, 3]]) == [1.0]   # 3 tokens <= 5
    assert call(length, ["Answer: 1234567"], ["1"], ids=[list(range(6))]) == [0.0]
    assert call(length, ["abcde", "abcdef"], ["1", "1"]) == [1.0, 0.0]          # no ids: characters


def test_conditioned_length_counts_only_correct_answers():
    t = task(length_limit=12, condition_length_on_accuracy=True)
    acc, length = t.reward_funcs()
    comps = ["Answer:582", "Answer:581", "12 08 05 Answer:582"]
    assert call(acc, comps, ["582"] * 3) == [1.0, 0.0, 1.0]
    assert call(length, comps, ["582"] * 3) == [1.0, 0.0, 0.0]


def test_rewards_survive_odd_output():
    t = task(objectives=["accuracy", "length", "format"])
    for fn in t.reward_funcs():
        out = call(fn, ODD, ["7"] * len(ODD))
        assert len(out) == len(ODD)
        assert all(v is None or v in (0.0, 1.0) for v in out)
    acc = t.reward_funcs()[0]
    assert call(acc, ODD, ["7"] * len(ODD))[10] == 1.0   # conversational completion is read


def test_generator_deterministic_disjoint_and_correct():
    a_train, a_eval = math_data.generate(500, 100, seed=3)
    b_train, b_eval = math_data.generate(500, 100, seed=3)
    c_train, _ = math_data.generate(500, 100, seed=4)
    assert a_train == b_train and a_eval == b_eval and a_train != c_train
    assert not {r["prompt"] for r in a_train} & {r["prompt"] for r in a_eval}
    for row in a_train[:50]:
        x, y = math_data.operands(row["prompt"])
        assert int(row["answer"]) == x + y
        assert mr.accuracy_score(math_data.worked_solution(x, y), row["answer"]) == 1.0
        assert mr.accuracy_score(math_data.direct_solution(x, y), row["answer"]) == 1.0


def test_worked_solution_writes_carries():
    assert math_data.worked_solution(123, 459) == "12 08 05 Answer:582"
    assert math_data.worked_solution(999, 999) == "18 19 19 Answer:1998"


def test_task_datasets_and_evaluate():
    t = task(**{"data.n_train": 300, "data.n_eval": 50, "eval.n_prompts": 20})
    assert len(t.train_dataset()) == 300 and len(t.eval_dataset()) == 20
    ev = t.eval_dataset()
    comps = [math_data.direct_solution(*math_data.operands(p)) for p in ev["prompt"]]
    out = t.evaluate(ev["prompt"], comps, {"answer": ev["answer"]}, [11] * 20)
    assert out["accuracy"] == 1.0 and out["length"] == 1.0 and out["format"] == 1.0
    out = t.evaluate(ev["prompt"], ["nope"] * 20, {"answer": ev["answer"]}, [30] * 20)
    assert out["accuracy"] == 0.0 and out["length"] == 0.0 and out["mean_length"] == 30


def test_warmup_mix_follows_the_config():
    t = task(**{"warmup.worked_frac": 1.0, "warmup.unmarked_frac": 0.0})
    demos = t.warmup_examples(50, seed=0)
    assert all(c.count(" ") == 3 and mr.format_score(c) == 1.0 for _, c in demos)
    t = task(**{"warmup.worked_frac": 0.0, "warmup.unmarked_frac": 1.0})
    assert all(mr.format_score(c) == 0.0 and len(c) <= 8 for _, c in t.warmup_examples(50, seed=0))


def write_dapo(path, rows):
    pd.DataFrame(rows).to_parquet(path)


def dapo_row(question, answer):
    return {"data_source": "math_dapo", "ability": "MATH", "extra_info": {"index": question},
            "prompt": [{"role": "user", "content": f"Solve.\n\n{question}\n\nRemember: Answer:"}],
            "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MATH_v2"}}


def test_dapo_loader_reads_real_layout_and_dedupes(tmp_path):
    path = tmp_path / "dapo.parquet"
    write_dapo(path, [dapo_row(f"q{i % 30}", str(i % 30)) for i in range(90)])  # each problem 3 times
    rows = math_data.read_dapo(path)
    assert len(rows) == 30 and rows[4]["answer"] == "4" and "q4" in rows[4]["question"]
    t = task(**{"data.source": "dapo", "data.path": str(path), "data.n_train": None, "data.n_eval": 10,
                "eval.n_prompts": 10})
    train, held = t.train_dataset(), t.eval_dataset()
    assert len(train) == 20 and len(held) == 10
    assert train[0]["prompt"][0]["role"] == "user"          # chat messages for TRL
    assert not {str(p) for p in train["prompt"]} & {str(p) for p in held["prompt"]}
    plain = task(**{"data.source": "dapo", "data.path": str(path), "data.chat": False, "data.n_eval": 5})
    assert isinstance(plain.train_dataset()[0]["prompt"], str)


def test_dapo_missing_or_malformed_file_names_file_and_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.parquet.*reward_model"):
        math_data.read_dapo(tmp_path / "nope.parquet")
    junk = tmp_path / "junk.parquet"
    junk.write_text("not parquet")
    with pytest.raises(ValueError, match="junk.parquet.*parquet.*ground_truth"):
        math_data.read_dapo(junk)
    cols = tmp_path / "cols.parquet"
    pd.DataFrame({"question": ["1+1"], "answer": ["2"]}).to_parquet(cols)
    with pytest.raises(ValueError, match=r"cols.parquet: missing column\(s\) \['prompt', 'reward_model'\]"):
        math_data.read_dapo(cols)
    bad = tmp_path / "bad.parquet"
    write_dapo(bad, [{"prompt": [{"role": "user", "content": "q"}], "reward_model": {"style": "rule"}}])
    with pytest.raises(ValueError, match="bad.parquet: row 0 is malformed"):
        math_data.read_dapo(bad)


def test_dapo_without_path_offline_says_what_to_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="task.data.path"):
        task(**{"data.source": "dapo"})


@pytest.mark.parametrize("over, match", [
    ({"objectives": ["accuracy", "speed"]}, "objectives"),
    ({"length_limit": 0}, "length_limit"),
    ({"data.source": "gsm8k"}, "valid sources"),
    ({"lenght_limit": 4}, "unknown option"),
    ({"data.n_trian": 4}, r"task.data: unknown option"),
])
def test_bad_config_raises_with_the_fix(over, match):
    with pytest.raises(ValueError, match=match):
        task(**over)


def test_registry_names_and_unknown():
    assert {"math", "tool"} <= set(tasks.names())
    with pytest.raises(KeyError, match="valid names: .*math"):
        tasks.build({"name": "chess"})


def test_rewards_never_raise_on_arbitrary_text():
    from hypothesis import given, settings, strategies as st

    fns = task(objectives=["accuracy", "length", "format"]).reward_funcs()
    pieces = st.sampled_from(["Answer:", "\\boxed{", "}", "{", "\n", " ", "7", "1/0", "\\frac{1}{0}", "é", "$"])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.one_of(st.text(max_size=40), pieces), max_size=12).map("".join))
    def check(text):
        for fn in fns:
            assert call(fn, [text], ["7"])[0] in (0.0, 1.0)

    check()
