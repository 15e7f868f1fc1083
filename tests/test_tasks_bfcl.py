"""The tool task on BFCL data: config checks, the category-balanced split, prompt rendering (chat
template with tools, or the compact layout), per-category evaluation, never-raising rewards and a
two-step run of the tiny model."""
from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import task_with
from tests.test_bfcl_oracle import IMPOSSIBLE, gold_calls
from tests.test_run_support import fast_cfg, records
from workbench import metrics as M
from workbench import store
from workbench.tasks import bfcl_data, bfcl_scoring as bs

CATS = ["simple_python", "parallel", "irrelevance"]


def bfcl(**over):
    return task_with("tool", **{"data.source": "bfcl", "data.categories": CATS, "data.n_train": 60,
                                "data.n_eval": 30, "eval.n_prompts": 30, **over})


def gold_text(row) -> str:
    """A well-formed completion making the row's gold calls (a response for the no-call categories)."""
    functions = json.loads(row["functions"])
    calls = gold_calls(functions, json.loads(row["answer"]))
    if bs.kind(row["category"]) == "relevance":  # any call passes
        calls = [{"name": functions[0]["name"], "arguments": {}}]
    if not calls:
        return "<think>none fits</think><response>I cannot do that.</response>"
    return "<think>call</think><tool_call>\n" + "\n".join(json.dumps(c) for c in calls) + "\n</tool_call>"


@pytest.mark.parametrize("over, match", [
    ({"data.categories": ["simple_python", "simple_pyhton"]}, r"choose from \['simple_python'"),
    ({"data.categories": ["simple_java"]}, "Java source strings.*not supported"),
    ({"data.categories": ["multi_turn_base"]}, "multi-turn"),
    ({"data.categories": []}, "choose from"),
    ({"eval.n_prompts": 2}, "at least the number of BFCL categories"),
    ({"data.n_eval": 5000}, "leaves no training rows"),
    ({"data.path": "/nonexistent/bfcl"}, "BFCL_v4_<category>.json"),
])
def test_bad_bfcl_config_fails_early_with_the_fix(over, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        bfcl(**over)


def test_categories_only_with_bfcl_and_missing_package_names_the_install(monkeypatch):
    assert bfcl(**{"data.categories": "irrelevance"}).cfg.data.categories == ["irrelevance"]
    assert bfcl(**{"data.categories": CATS + CATS[:1]}).cfg.data.categories == CATS
    with pytest.raises(ValueError, match="source=bfcl only"):
        task_with("tool", **{"data.categories": ["simple_python"]})
    monkeypatch.setattr(bfcl_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install --no-deps "bfcl-eval==.*make install'):
        bfcl()


def test_split_is_disjoint_deterministic_and_balanced_across_categories():
    t = bfcl()
    train, held = t.train_dataset(), t.eval_dataset()
    assert len(train) == 60 and len(held) == 30 and not set(train["id"]) & set(held["id"])
    assert held["category"][:3] == sorted(CATS) and {c: held["category"].count(c) for c in CATS} == dict.fromkeys(CATS, 10)
    assert bfcl()._eval == t._eval and bfcl(**{"data.seed": 1})._eval != t._eval
    assert set(train.column_names) == {"prompt", "id", "category", "functions", "answer"}


def test_evaluate_gold_completions_pass_every_category_and_breakdown_adds_up():
    t = bfcl()
    ev = t.eval_dataset()
    rows = ev.to_dict()
    texts = [gold_text(r) for r in ev]
    out = t.evaluate(rows["prompt"], texts, rows, [10] * len(texts))
    assert out["bfcl"] == out["exact"] == out["correctness"] == out["format"] == 1.0
    assert {k for k in out if k.startswith("bfcl_")} == {f"bfcl_{c}" for c in CATS}
    # wrong answers: a call for the irrelevance rows, none for the others
    wrong = ["<think>x</think><response>no</response>" if c != "irrelevance" else
             '<think>x</think><tool_call>{"name": "f", "arguments": {}}</tool_call>' for c in rows["category"]]
    out = t.evaluate(rows["prompt"], wrong, rows, [10] * len(texts))
    assert out["bfcl"] == 0.0 and out["format"] == 1.0 and all(out[f"bfcl_{c}"] == 0.0 for c in CATS)


def test_gold_completions_score_one_on_all_rows_of_every_category():
    t = task_with("tool", **{"data.source": "bfcl", "data.n_train": None, "data.n_eval": 20, "eval.n_prompts": 20})
    correctness = dict(zip(t.objectives, t.reward_funcs()))["correctness"]
    rows = t._train + t._eval
    scores = correctness(completions=[gold_text(r) for r in rows], category=[r["category"] for r in rows],
                         functions=[r["functions"] for r in rows], answer=[r["answer"] for r in rows])
    failed = {r["id"] for r, s in zip(rows, scores) if s != 1.0}
    assert failed == IMPOSSIBLE and len(rows) == 3491


# Qwen2.5's layout in brief: the tools as JSON lines inside <tools> in the system turn.
QWEN_LIKE = ("{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0].role == 'system' %}"
             "{{- messages[0].content + '\\n\\n' }}{%- endif %}{{- '# Tools\\n<tools>' }}{%- for tool in tools %}"
             "{{- '\\n' }}{{- tool | tojson }}{%- endfor %}{{- '\\n</tools><|im_end|>\\n' }}{%- endif %}"
             "{%- for m in messages %}{%- if not (tools and loop.first and m.role == 'system') %}"
             "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
             "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
NO_TOOLS = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}[assistant] "


def chat_tokenizer(template: str | None):
    from workbench.models.tokenizer import build_char_tokenizer

    tok = build_char_tokenizer(["abc"])
    tok.chat_template = template
    return tok


def test_prompts_render_through_the_chat_template_with_tools_or_compact():
    t = bfcl()
    row = next(r for r in t._eval if r["category"] == "simple_python")
    function = json.loads(row["functions"])[0]
    assert row["prompt"].startswith(f"tools: {function['name']}(") and "\nuser: " in row["prompt"]  # compact
    t.use_tokenizer(chat_tokenizer(QWEN_LIKE))  # transformers' own apply_chat_template, tools passed
    prompt = t.eval_dataset()[t._eval.index(row)]["prompt"]
    system, tools = prompt.split("# Tools\n<tools>\n")
    assert system == f"<|im_start|>system\n{bfcl_data.FORMAT_HINT}\n\n"
    schema = json.loads(tools.split("\n")[0])
    assert schema["type"] == "function" and schema["function"]["name"] == function["name"]
    assert schema["function"]["parameters"]["type"] == "object"  # BFCL's "dict" in JSON-schema terms
    assert "<|im_start|>user\n" in prompt and prompt.endswith("<|im_start|>assistant\n")
    t.use_tokenizer(chat_tokenizer(NO_TOOLS))  # no tools slot: the schemas go into the system message
    prompt = t.eval_dataset()[t._eval.index(row)]["prompt"]
    assert prompt.startswith(f"[system] {bfcl_data.FORMAT_HINT}\n\nAvailable functions (JSON schema)")
    assert f'"name": "{function["name"]}"' in prompt and prompt.endswith("[assistant] ")
    t = bfcl(**{"data.chat": False})
    t.use_tokenizer(chat_tokenizer(QWEN_LIKE))
    assert all(r["prompt"].startswith("tools: ") for r in t._train + t._eval)


def test_unknown_characters_become_unk_with_a_warning(caplog):
    from workbench.models.tiny import tiny_tokenizer

    t = bfcl()
    tokenizer = tiny_tokenizer(t)  # the generated tool task's character vocabulary (bfcl shares its warm-up)
    with caplog.at_level(logging.WARNING):
        t.use_tokenizer(tokenizer)
    assert "are <unk>" in caplog.text
    ids = tokenizer("Ωx", add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.unk_token_id and tokenizer.decode(ids, skip_special_tokens=True) == "x"


def test_bfcl_rewards_never_raise_on_arbitrary_text():
    from hypothesis import given, settings, strategies as st

    t = bfcl()
    row = next(r for r in t._eval if r["category"] == "parallel")
    fns = t.reward_funcs()
    pieces = st.sampled_from(["<think>", "</think>", "<tool_call>", "</tool_call>", "\n", "{", "}", '"name"',
                              '{"name": "spotify.play", "arguments": {"artist": "Maroon 5"}}', gold_text(row)])

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.one_of(st.text(max_size=30), pieces), max_size=10).map("".join))
    def check(text):
        for fn in fns:
            value = fn(completions=[text], category=[row["category"]], functions=[row["functions"]],
                       answer=[row["answer"]])[0]
            assert value is not None and 0.0 <= value <= 1.0

    check()
    assert bs.score_text(gold_text(row), row["category"], row["functions"], row["answer"]) == (1.0, True)


def test_tiny_run_on_bfcl_logs_per_category_eval_axes(tmp_path):
    from workbench.run import run

    run_dir = tmp_path / "bfcl"
    summary = run(fast_cfg(run_dir, "task=tool", "task.data.source=bfcl", f"task.data.categories=[{','.join(CATS)}]",
                           "task.data.n_train=40", "task.data.n_eval=3", "++task.eval.n_prompts=3"))
    assert store.read_status(run_dir)["status"] == "done" and summary["step"] == 2
    final = records(run_dir / store.EVAL)[-1]
    for key in ["correctness", "format", "bfcl"] + [f"bfcl_{c}" for c in CATS]:
        assert 0.0 <= final[M.eval_metric(key)] <= 1.0, key
    assert summary["eval_axes"] == ["correctness", "format"]


def test_makefile_installs_the_pinned_bfcl_eval():
    from importlib.metadata import version

    from tests.conftest import ROOT

    assert f"BFCL_VERSION ?= {bfcl_data.BFCL_VERSION}\n" in (ROOT / "Makefile").read_text()
    assert version("bfcl-eval") == bfcl_data.BFCL_VERSION, f"run `make install` or `{bfcl_data.INSTALL}`"


def test_corrupt_or_incomplete_bfcl_folder_names_the_file(tmp_path):
    source = bfcl_data.data_dir()
    (tmp_path / "BFCL_v4_irrelevance.json").write_bytes(b"\x00\xff not json\n")
    with pytest.raises(ValueError, match=r"BFCL_v4_irrelevance.json:1: not a JSON line"):
        bfcl(**{"data.path": str(tmp_path), "data.categories": ["irrelevance"], "data.n_eval": 2})
    (tmp_path / "BFCL_v4_parallel.json").write_text((source / "BFCL_v4_parallel.json").read_text())
    with pytest.raises(FileNotFoundError, match=r"possible_answer/BFCL_v4_parallel.json: missing"):
        bfcl(**{"data.path": str(tmp_path), "data.categories": ["parallel"], "data.n_eval": 2})
