"""Tool task: ToolRL format/correctness on hand-written completions, generator, ToolRL JSON loader."""
from __future__ import annotations

import json

import pytest

from tests.conftest import conf_node, task_with
from workbench import tasks
from workbench.tasks import tool_data, tool_rewards as tr

GOLD = json.dumps([{"name": "book", "arguments": {"city": "rome", "day": "mon"}}])
CALL = '{"name": "book", "arguments": {"city": "rome", "day": "mon"}}'
ODD = ["", "<think>", "</tool_call><tool_call>", "<think>é🙂</think><tool_call>{\"name\": 1}</tool_call>",
       "<think>x</think><tool_call>" + "[" * 5000 + "</tool_call>", "<tool_call>" * 3000, "z" * 200_000,
       None, [{"role": "assistant", "content": f"<think>a</think><tool_call>{CALL}</tool_call>"}], 3.5]


def task(**over):
    return task_with("tool", **over)


@pytest.mark.parametrize("text, fmt, cor", [
    (f"<think>plan</think><tool_call>{CALL}</tool_call>", 1.0, 1.0),
    (f"<think>plan</think>\n<tool_call>\n{CALL}\n</tool_call>\n", 1.0, 1.0),
    (f"<think>p</think><tool_call>{CALL.replace('parameters', 'x')}</tool_call><response>ok</response>", 1.0, 1.0),
    (f'<think>p</think><tool_call>{CALL.replace("arguments", "parameters")}</tool_call>', 1.0, 1.0),
    (f"<tool_call>{CALL}</tool_call>", 0.0, 1.0),                     # no think: format only fails
    (f"<think>p</think><tool_call>{CALL}</tool_call> trailing", 0.0, 1.0),
    (f"<tool_call>{CALL}</tool_call><think>p</think>", 0.0, 1.0),    # wrong order
    (f"<think>p</think><tool_call>{CALL.replace('rome', 'oslo')}</tool_call>", 1.0, 3 / 4),   # S_max = 1 + 1 call + 2 keys = 4
    (f"<think>p</think><tool_call>{CALL.replace('mon', 'sat').replace('rome', 'oslo')}</tool_call>", 1.0, 2 / 4),
    ('<think>p</think><tool_call>{"name": "book", "arguments": {"city": "rome"}}</tool_call>', 1.0, 2.5 / 4),  # key Jaccard 1/2
    ('<think>p</think><tool_call>{"name": "play", "arguments": {"song": "rome"}}</tool_call>', 1.0, 0.0),
    ("<think>p</think><response>I cannot</response>", 1.0, 0.0),
    ("<think>p</think><tool_call>{bad json</tool_call>", 0.0, 0.0),
    ("<think>p</think>", 0.0, 0.0),
])
def test_hand_cases(text, fmt, cor):
    assert tr.format_score(text) == fmt
    assert tr.correctness_score(text, GOLD) == pytest.approx(cor)


def test_correctness_two_calls_and_extra_call():
    gold = [{"name": "ring", "arguments": {"who": "ann"}}, {"name": "play", "arguments": {"song": "pop"}}]
    both = [{"name": "play", "arguments": {"song": "pop"}}, {"name": "ring", "arguments": {"who": "ann"}}]
    assert tr.match_score(gold, both) == 1.0                      # order does not matter
    # S_max = 1 + 2 calls + 2 keys = 5; an extra call halves nothing but the name Jaccard (2/3).
    extra = both + [{"name": "timer", "arguments": {"mins": "5"}}]
    assert tr.match_score(gold, extra) == pytest.approx((2 / 3 + 2 + 2) / 5)
    assert tr.match_score([], []) == 1.0 and tr.match_score([], both) == 0.0


def test_rewards_survive_odd_output():
    t = task()
    for fn in t.reward_funcs():
        out = fn(prompts=["p"] * len(ODD), completions=ODD, gold=[GOLD] * len(ODD), trainer_state=None)
        assert len(out) == len(ODD) and all(v is None or 0.0 <= v <= 1.0 for v in out)
    fmt, cor = t.reward_funcs()
    assert fmt(completions=ODD[8:9], gold=[GOLD])[0] == 1.0 and cor(completions=ODD[8:9], gold=[GOLD])[0] == 1.0


def test_generator_deterministic_disjoint_and_solvable():
    a = tool_data.generate(300, 60, seed=1)
    assert a == tool_data.generate(300, 60, seed=1) and a != tool_data.generate(300, 60, seed=2)
    train, held = a
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
    for row in train[:40]:
        call = json.loads(row["gold"])[0]
        assert f"{call['name']}(" in row["prompt"] and all(v in row["prompt"] for v in call["arguments"].values())
        demo = tool_data.demonstration(row["gold"])
        assert tr.format_score(demo) == 1.0 and tr.correctness_score(demo, row["gold"]) == 1.0


def test_demonstrations_fit_the_tiny_completion_budget():
    from workbench.models.tiny import tiny_tokenizer

    t = task()
    tok = tiny_tokenizer(t)
    limit = conf_node("model", "tiny")["max_completion_length"]
    lengths = [len(tok(c)["input_ids"]) + 1 for _, c in t.warmup_examples(400, seed=0)]  # + eos
    assert max(lengths) <= limit
    nothink = task(**{"warmup.no_think_frac": 1.0}).warmup_examples(20, seed=0)
    assert all(tr.format_score(c) == 0.0 and tr.correctness_score(c, r) < 2 for (_, c), r in
               zip(nothink, ["[]"] * 20))


def test_evaluate_reports_axes():
    t = task(**{"data.n_train": 100, "data.n_eval": 30, "eval.n_prompts": 30})
    ev = t.eval_dataset()
    comps = [tool_data.demonstration(g) for g in ev["gold"]]
    out = t.evaluate(ev["prompt"], comps, {"gold": ev["gold"]}, [20] * 30)
    assert out == {"format": 1.0, "correctness": 1.0, "exact": 1.0, "mean_length": 20.0}
    assert {a.name for a in t.eval_axes} <= set(out)


def toolrl_rows():
    sys = "You are a helpful assistant.\nName: get_weather\nDescription: weather of a city\n"
    rows = [{"instruction": sys, "input": f"**User**: weather in city{i}?",
             "output": f"<think>use get_weather</think>\n<tool_call>\n"
                       f"{{\"name\": \"get_weather\", \"parameters\": {{\"city\": \"city{i}\"}}}}\n</tool_call>"}
            for i in range(12)]
    rows.append({"instruction": sys, "input": "**User**: hello", "output": "<think>chat</think>\n<response>Hi</response>"})
    rows.append({"instruction": sys, "input": "**User**: two", "tool_calls": [
        {"name": "a", "arguments": {"x": 1}}, {"name": "b", "parameters": {"y": "z"}}]})
    return rows


def test_toolrl_loader_json_and_jsonl(tmp_path):
    path = tmp_path / "rlla_rl.json"
    path.write_text(json.dumps(toolrl_rows()))
    rows = tool_data.read_toolrl(path)
    assert len(rows) == 14
    assert json.loads(rows[3]["gold"]) == [{"name": "get_weather", "arguments": {"city": "city3"}}]
    assert json.loads(rows[12]["gold"]) == [] and len(json.loads(rows[13]["gold"])) == 2
    lines = tmp_path / "rows.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in toolrl_rows()))
    assert tool_data.read_toolrl(lines) == rows
    t = task(**{"data.source": "toolrl", "data.path": str(path), "data.n_train": None, "data.n_eval": 4,
                "eval.n_prompts": 4})
    train, held = t.train_dataset(), t.eval_dataset()
    assert len(train) == 10 and len(held) == 4 and [m["role"] for m in train[0]["prompt"]] == ["system", "user"]
    gold = json.loads(held[0]["gold"])
    fmt, cor = t.reward_funcs()
    right = "<think>x</think><tool_call>" + "\n".join(json.dumps(c) for c in gold) + "</tool_call>" if gold \
        else "<think>x</think><response>Hi</response>"
    assert cor(completions=[right], gold=[held[0]["gold"]]) == [1.0]


def test_toolrl_missing_or_malformed_file_names_file_and_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="none.json.*instruction.*input.*output"):
        tool_data.read_toolrl(tmp_path / "none.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json\n")
    with pytest.raises(ValueError, match="junk.json: neither JSON nor JSON Lines.*rlla_rl.json"):
        tool_data.read_toolrl(junk)
    obj = tmp_path / "obj.json"
    obj.write_text(json.dumps({"rows": []}))
    with pytest.raises(ValueError, match="obj.json: the top level is not a non-empty list"):
        tool_data.read_toolrl(obj)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"input": "q", "output": "<think>a</think><tool_call>nope</tool_call>"}]))
    with pytest.raises(ValueError, match="bad.json: row 0 is malformed.*tool_call"):
        tool_data.read_toolrl(bad)
    with pytest.raises(ValueError, match="task.data.path"):
        task(**{"data.source": "toolrl"})


def test_rewards_never_raise_on_arbitrary_text():
    from hypothesis import given, settings, strategies as st

    fns = task().reward_funcs()
    pieces = st.sampled_from(tr.TAGS + ['{"name": "book"', '"arguments": ', "{", "}", "[", "]", ",", "\n", CALL])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.one_of(st.text(max_size=30), pieces), max_size=12).map("".join))
    def check(text):
        for fn in fns:
            value = fn(completions=[text], gold=[GOLD])[0]
            assert value is not None and 0.0 <= value <= 1.0

    check()
