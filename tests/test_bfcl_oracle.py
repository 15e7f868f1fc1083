"""BFCL's own checker as the oracle for workbench/tasks/bfcl_scoring.py, on every row of the
single-turn Python categories in the bfcl-eval wheel: gold answers and a dozen perturbations each.

BFCL's ``ast_checker`` module imports its model-config module, which imports every API client
(openai, anthropic, ...); ``bfcl_checker`` puts a stub in its place for the import (the checker reads
it only to rename dotted function names for some API models; ours keep the dots). The (ir)relevance
verdict is BFCL's eval-runner rule on its ``is_empty_output``.

Mapping between the training reward and BFCL's verdict, asserted on every case: BFCL pass <=>
``partial_score == 1``; a failing call keeps partial credit in [0, 1). The one exception is listed in
ORDER_QUIRK: BFCL matches parallel calls greedily in answer order, so a correct set of calls can fail
when two answer entries accept the same call; the reward matches best pairs first and gives 1.
"""
from __future__ import annotations

import copy
import json
import random
import sys
import types
from collections import Counter

import pytest

from workbench.tasks import bfcl_data, bfcl_scoring as bs

AST = ["simple_python", "multiple", "parallel", "parallel_multiple", "live_simple", "live_multiple",
       "live_parallel", "live_parallel_multiple"]
RELEVANCE = ["irrelevance", "live_irrelevance", "live_relevance"]
# Rows no output can pass, in BFCL's checker as in ours: a mandatory argument with no acceptable value
# ([] or only ""), a schema-required argument missing from the answer, or an answer argument the
# schema does not have.
IMPOSSIBLE = {"live_simple_106-63-0", "live_simple_112-68-0", "live_multiple_507-149-4",
              "live_multiple_862-181-3", "live_multiple_964-207-0"}
# (row, case) where BFCL fails a correct answer and partial_score is 1: parallel_178's first answer entry
# accepts Microsoft or Apple on 2022-01-01; with the calls reversed BFCL gives it the Apple call, which
# the third entry (Apple only) needed. ``passes`` reproduces BFCL's verdict; the reward does not.
ORDER_QUIRK = {("parallel_178", "reordered calls")}


@pytest.fixture(scope="module")
def bfcl_checker():
    """(ast_checker, Language, is_empty_output) from the installed bfcl-eval, API clients never imported."""
    if bfcl_data.importlib.util.find_spec("bfcl_eval") is None:
        pytest.fail(f"bfcl-eval is not installed: run `make install` or `{bfcl_data.INSTALL}`")
    name = "bfcl_eval.constants.model_config"
    stub = types.ModuleType(name)
    stub.MODEL_CONFIG_MAPPING = type("AnyModel", (dict,), {"__missing__": lambda self, key: types.SimpleNamespace(
        underscore_to_dot=False)})()
    saved = sys.modules.get(name)
    sys.modules[name] = stub
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        from bfcl_eval.utils import is_empty_output
    finally:
        if saved is None:
            del sys.modules[name]
        else:
            sys.modules[name] = saved
    assert not [m for m in sys.modules if m.split(".")[0] in ("openai", "anthropic", "cohere", "mistralai")]
    return ast_checker, Language, is_empty_output


@pytest.fixture(scope="module")
def rows():
    return bfcl_data.load(AST + RELEVANCE)


# ---- gold answers and perturbations -----------------------------------------------------------------
def _first(acceptable: list):
    return next(a for a in acceptable if a != "")


def _concrete(value):
    """A concrete argument value from an acceptable one (dict options hold acceptable lists one level down)."""
    def one(option):
        return {k: _first(v) for k, v in option.items() if "" not in v and any(a != "" for a in v)}

    if isinstance(value, dict):
        return one(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [one(v) for v in value]
    return value


def _doc(functions, name):
    return next(f for f in functions if f["name"] == name)


def gold_calls(functions, answer, optional=False):
    """One passing call per answer entry: mandatory arguments (plus the optional ones with a value when
    ``optional``) set to their first acceptable value."""
    calls = []
    for item in answer:
        (name, args), = item.items()
        required = set(_doc(functions, name)["parameters"].get("required", []))
        keep = {k: v for k, v in args.items() if any(a != "" for a in v) and
                (optional or "" not in v or k in required)}
        calls.append({"name": name, "arguments": {k: _concrete(_first(v)) for k, v in keep.items()}})
    return calls


def _bad_value(value):
    """A value of the same type that no answer lists."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 98765
    if isinstance(value, str):
        return value + " zzq"
    if isinstance(value, list):
        return value + (["zzq"] if not value or isinstance(value[0], str) else [98765])
    if isinstance(value, dict):
        return {**value, "zzq_key": 1}
    return "zzq"


def _other_type(value):
    if isinstance(value, str):
        return 7
    if isinstance(value, bool):
        return "true"
    return str(value)


def perturbations(functions, answer, rng):
    """(label, calls) cases around the gold answer of one AST row."""
    gold = gold_calls(functions, answer)
    cases = [("gold", gold), ("gold+optional", gold_calls(functions, answer, optional=True))]
    i = rng.randrange(len(gold))
    args = gold[i]["arguments"]

    def edit(fn):
        calls = copy.deepcopy(gold)
        fn(calls[i])
        return calls

    if args:
        key = rng.choice(sorted(args))
        cases += [("wrong value", edit(lambda c: c["arguments"].__setitem__(key, _bad_value(c["arguments"][key])))),
                  ("wrong type", edit(lambda c: c["arguments"].__setitem__(key, _other_type(c["arguments"][key])))),
                  ("missing argument", edit(lambda c: c["arguments"].pop(key)))]
        strings = [k for k in sorted(args) if isinstance(args[k], str) and args[k].strip()]
        if strings:  # BFCL standardises strings: case, spaces and ,./-_*^ do not count
            k = rng.choice(strings)
            cases.append(("restyled string", edit(lambda c: c["arguments"].__setitem__(
                k, c["arguments"][k].upper().replace(" ", "_") + "."))))
        doc = _doc(functions, gold[i]["name"])
        floats = [k for k in sorted(args) if doc["parameters"]["properties"].get(k, {}).get("type") == "float"
                  and isinstance(args[k], float) and args[k].is_integer()]
        if floats:  # BFCL accepts an int for a float parameter
            k = floats[0]
            cases.append(("int for float", edit(lambda c: c["arguments"].__setitem__(k, int(c["arguments"][k])))))
    cases += [("extra argument", edit(lambda c: c["arguments"].__setitem__("zzq_extra", 1))),
              ("wrong function", edit(lambda c: c.__setitem__("name", c["name"] + "_v2"))),
              ("extra call", gold + [copy.deepcopy(gold[i])]),
              ("missing call", gold[:i] + gold[i + 1:]),
              ("reordered calls", list(reversed(gold)))]
    return cases


def bfcl_verdict(checker, row, calls) -> bool:
    ast_checker, language, is_empty_output = checker
    decoded = [{c["name"]: c["arguments"]} for c in calls]
    how = bs.kind(row["category"])
    if how in ("irrelevance", "relevance"):  # BFCL's eval runner: a call is any non-empty decoded output
        called = not is_empty_output(decoded)
        return not called if how == "irrelevance" else called
    result = ast_checker(json.loads(row["functions"]), decoded, json.loads(row["answer"]), language.PYTHON,
                         row["category"], "workbench")
    return bool(result["valid"])


def test_scorer_agrees_with_bfcl_checker_on_every_row_and_perturbation(bfcl_checker, rows):
    tally: Counter = Counter()
    disagreements = []
    for category in AST:
        for row in rows[category]:
            functions, answer = json.loads(row["functions"]), json.loads(row["answer"])
            rng = random.Random(row["id"])
            for label, calls in perturbations(functions, answer, rng):
                ours = bs.passes(category, functions, answer, calls)
                partial = bs.partial_score(category, functions, answer, calls)
                theirs = bfcl_verdict(bfcl_checker, row, calls)
                tally[label, theirs] += 1
                quirk = (row["id"], label) in ORDER_QUIRK and partial == 1.0 and not theirs
                if ours != theirs or ((partial == 1.0) != theirs and not quirk) or not 0.0 <= partial <= 1.0:
                    disagreements.append((row["id"], label, theirs, ours, partial, calls))
                if label == "gold" and row["id"] not in IMPOSSIBLE:
                    assert theirs, f"{row['id']}: the constructed gold answer fails BFCL's checker: {calls}"
    assert not disagreements, f"{len(disagreements)} disagreements, first: {disagreements[:3]}"
    cases = sum(tally.values())
    assert cases > 20_000, tally  # ~2,350 rows x up to 12 cases
    # Each perturbation kind happened, and the breaking ones mostly fail (they can pass: e.g. a dropped
    # argument that was acceptable only because a schema default made it optional).
    for label in ("wrong value", "wrong type", "missing argument", "extra argument", "wrong function",
                  "extra call", "missing call"):
        assert tally[label, False] > 10 * tally[label, True] and tally[label, False] > 50, (label, tally)
    for label in ("gold", "gold+optional", "restyled string", "int for float", "reordered calls"):
        assert tally[label, True] > 10 * tally[label, False], (label, tally)


def test_relevance_rule_agrees_with_bfcl(bfcl_checker, rows):
    n = 0
    for category in RELEVANCE:
        for row in rows[category]:
            functions = json.loads(row["functions"])
            call = {"name": functions[0]["name"] if functions else "lookup", "arguments": {}}
            for calls in ([], [call], [call, call]):
                theirs = bfcl_verdict(bfcl_checker, row, calls)
                assert bs.passes(category, functions, [], calls) == theirs
                assert bs.partial_score(category, functions, [], calls) == float(theirs)
                n += 1
    assert n == 3 * sum(len(rows[c]) for c in RELEVANCE) > 3000


def test_text_completions_decode_every_tool_call_block(rows):
    row = rows["parallel"][0]
    functions, answer = json.loads(row["functions"]), json.loads(row["answer"])
    calls = gold_calls(functions, answer)
    blocks = "".join(f"<tool_call>\n{json.dumps(c)}\n</tool_call>\n" for c in calls)  # Qwen's layout
    one_block = "<think>x</think><tool_call>" + "\n".join(json.dumps(c) for c in calls) + "</tool_call>"
    for text in (blocks, one_block, "<tool_call>not json</tool_call>" + blocks):
        score, ok = bs.score_text(text, "parallel", row["functions"], row["answer"])
        assert ok and score == 1.0
    unclosed = blocks[:blocks.rfind("</tool_call>")]
    score, ok = bs.score_text(unclosed, "parallel", row["functions"], row["answer"])
    assert not ok and 0.0 < score < 1.0  # the unclosed last block is lost: one call short
    assert bs.decode("<tool_call>" * 3 + "{") == [] and bs.decode("") == []
