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
    a_train, a_eval = math_data.generate(500, 100, seed=3, easy_frac=0.3)
    b_train, b_eval = math_data.generate(500, 100, seed=3, easy_frac=0.3)
    c_train, _ = math_data.generate(500, 100, seed=4, easy_frac=0.3)
    assert a_train == b_train and a_eval == b_eval and a_train != c_train
    prompts = [r["prompt"] for r in a_train + a_eval]
    assert len(set(prompts)) == 600                      # no prompt twice, none in both splits
    for row in a_train + a_eval:
        x, y = math_data.operands(row["prompt"])
        assert int(row["answer"]) == x + y
        width = 2 if row["difficulty"] == "easy" else 3
        assert len(str(x)) == len(str(y)) == width
        assert mr.accuracy_score(math_data.worked_solution(x, y), row["answer"]) == 1.0
        assert mr.accuracy_score(math_data.direct_solution(x, y), row["answer"]) == 1.0


@pytest.mark.parametrize("easy_frac, n_train, n_eval", [(0.5, 301, 21), (0.0, 40, 10), (1.0, 40, 10), (0.25, 1000, 200)])
def test_generator_difficulty_mix_is_exact_per_split(easy_frac, n_train, n_eval):
    train, held = math_data.generate(n_train, n_eval, seed=0, easy_frac=easy_frac)
    for rows, n in ((train, n_train), (held, n_eval)):
        easy = sum(r["difficulty"] == "easy" for r in rows)
        assert len(rows) == n and easy == round(n * easy_frac)
    assert {r["difficulty"] for r in train[:30]} == ({"easy", "hard"} if 0 < easy_frac < 1 else
                                                      {"easy" if easy_frac else "hard"})  # shuffled, not blocks


def test_generator_refuses_more_easy_problems_than_exist():
    with pytest.raises(ValueError, match="81 distinct 1-digit additions"):
        math_data.generate(200, 20, seed=0, easy_digits=1, easy_frac=0.5)
    with pytest.raises(ValueError, match="easy_digits=3 must lie in"):
        task(**{"data.easy_digits": 3})


@pytest.mark.parametrize("text, form", [
    ("Answer:582", "direct"), ("3 12 08 05 Answer:582", "worked"), ("= 582", "other"), ("3 12 08 05 = 582", "other"),
    ("", "other"), ("x Answer:5", "other")])
def test_answer_form(text, form):
    assert math_data.answer_form(text) == form


def test_worked_solution_writes_the_column_count_then_carries():
    assert math_data.worked_solution(123, 459) == "3 12 08 05 Answer:582"
    assert math_data.worked_solution(99, 99) == "2 18 19 Answer:198"
    assert len(math_data.worked_solution(999, 999)) + 1 <= 24     # fits the tiny model's 24 new tokens


def test_task_datasets_and_evaluate():
    t = task(**{"data.n_train": 300, "data.n_eval": 50, "eval.n_prompts": 20})
    assert len(t.train_dataset()) == 300 and len(t.eval_dataset()) == 20
    ev = t.eval_dataset()
    comps = [math_data.direct_solution(*math_data.operands(p)) for p in ev["prompt"]]
    out = t.evaluate(ev["prompt"], comps, {"answer": ev["answer"]}, [11] * 20)
    assert out["accuracy"] == 1.0 and out["length"] == 1.0 and out["format"] == 1.0
    out = t.evaluate(ev["prompt"], ["nope"] * 20, {"answer": ev["answer"]}, [30] * 20)
    assert out["accuracy"] == 0.0 and out["length"] == 0.0 and out["mean_length"] == 30


def test_evaluate_reports_forms_and_accuracy_per_difficulty():
    t = task(**{"data.n_train": 100, "data.n_eval": 40, "eval.n_prompts": 40})
    ev = t.eval_dataset()
    comps, lengths = [], []
    for i, (prompt, difficulty) in enumerate(zip(ev["prompt"], ev["difficulty"])):
        a, b = math_data.operands(prompt)
        text = math_data.direct_solution(a, b) if difficulty == "easy" else math_data.worked_solution(a, b)
        if difficulty == "hard" and i % 2:       # half the hard answers direct and wrong
            text = math_data.direct_solution(a, b + 1)
        comps.append(text)
        lengths.append(len(text) + 1)
    out = t.evaluate(ev["prompt"], comps, {"answer": ev["answer"], "difficulty": ev["difficulty"]}, lengths)
    hard = [i for i, d in enumerate(ev["difficulty"]) if d == "hard"]
    assert out["easy/worked_rate"] == 0.0 and out["easy/direct_accuracy"] == 1.0 and "easy/worked_accuracy" not in out
    assert out["hard/worked_rate"] == pytest.approx(sum(1 for i in hard if i % 2 == 0) / len(hard))
    assert out["hard/worked_accuracy"] == 1.0 and out["hard/direct_accuracy"] == 0.0


def test_warmup_mix_follows_the_config_per_difficulty():
    t = task(**{"warmup.worked_frac": {"easy": 0.0, "hard": 1.0}, "warmup.unmarked_frac": 0.0})
    demos = t.warmup_examples(60, seed=0)
    forms = {(len(p) < 8, math_data.answer_form(c)) for p, c in demos}  # "12+34=" is 6 characters
    assert forms == {(True, "direct"), (False, "worked")}
    assert all(mr.format_score(c) == 1.0 for _, c in demos)
    t = task(**{"warmup.worked_frac": {"easy": 0.0, "hard": 0.0}, "warmup.unmarked_frac": 1.0})
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
    ({"data.easy_frac": 1.5}, "easy_frac=1.5 must lie in"),
    ({"warmup.worked_frac": {"easy": -0.1}}, "worked_frac.easy=-0.1"),
    ({"warmup.worked_frac": {"medium": 0.5}}, r"task.warmup.worked_frac: unknown option"),
    ({"warmup.worked_frac": 0.5}, r"worked_frac=0.5 must be a mapping like \{easy: ..., hard: ...\}"),
    ({"warmup.samples": 0}, "samples"),
    ({"data.n_trian": 4}, r"task.data: unknown option"),
])
def test_bad_config_raises_with_the_fix(over, match):
    with pytest.raises(ValueError, match=match):
        task(**over)


def test_registry_names_and_unknown():
    assert {"math", "tool"} <= set(tasks.names())
    with pytest.raises(KeyError, match="registered tasks: .*math"):
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
