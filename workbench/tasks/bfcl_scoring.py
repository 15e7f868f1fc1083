"""BFCL's AST rules (Berkeley Function-Calling Leaderboard v4, Python categories) as pure functions,
plus a ToolRL-style partial-credit score on the same rules.

A BFCL gold answer lists, per expected call, each argument's acceptable values:
``[{"fn": {"arg": [v1, v2], "opt": ["x", ""]}}]``; ``""`` among them marks the argument optional. A
predicted call ``{"name", "arguments"}`` passes (BFCL's ``simple_function_checker``) when
  - its name is the expected function's;
  - every argument the schema requires is given, and every given one is in the schema and the answer;
  - every value has the schema type (``float`` also takes an int; a value of the answer's own type,
    where that differs from the schema's, is a "variable" and is compared exactly; list items are
    type-checked one level deep) and is acceptable: strings after BFCL's standardisation (lower case;
    spaces and ``,./-_*^`` removed; ``'`` read as ``"``), lists item by item with their strings
    standardised, dicts key by key against one acceptable dict, lists of dicts dict by dict in order,
    other values by equality;
  - every answer argument left out is optional.
Categories (BFCL's ``ast_checker`` dispatch): ``parallel*`` need as many calls as the answer, in any
order, each answer call in turn taking the first unmatched passing call; ``*multiple`` exactly one
call (the right one among several functions); other AST categories exactly one call;
``*irrelevance`` passes with no call, ``*relevance`` with at least one.

``partial_score`` is the ToolRL correctness of workbench/tasks/tool_rewards.py with BFCL's notion of
an acceptable value: (multiset name Jaccard + per matched call the Jaccard of argument names + the
number of mandatory arguments with an acceptable value) / S_max. It is 1 exactly when ``passes`` is
true (tests/test_bfcl_oracle.py checks both against BFCL's own checker) and in [0, 1) otherwise.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from typing import Any

from workbench.tasks.tool_rewards import TOOL, parse_calls

PY_TYPES = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list,
            "dict": dict, "any": str}
_NOISE = re.compile(r"[ ,./\-_*^]")


def kind(category: str) -> str:
    """BFCL's checker for a category: irrelevance, relevance, parallel, multiple or simple."""
    for name in ("irrelevance", "relevance", "parallel", "multiple"):
        if name in category:
            return name
    return "simple"


def decode(text: str) -> list[dict]:
    """Every call in every ``<tool_call>`` block, in order. A block that does not parse is skipped, as
    BFCL's Qwen function-calling handler skips it; no block gives []."""
    calls, pos = [], 0
    while (start := text.find(TOOL[0], pos)) >= 0:
        end = text.find(TOOL[1], start)
        if end < 0:
            break
        calls += parse_calls(text[start + len(TOOL[0]):end]) or []
        pos = end + len(TOOL[1])
    return calls


# ---- one argument ---------------------------------------------------------------------------------
def _std(value: Any) -> Any:
    return _NOISE.sub("", value).lower().replace("'", '"') if isinstance(value, str) else value


def _answer_type(acceptable: list) -> type | None:
    return next((type(a) for a in acceptable if a != ""), None)


def _type_ok(value: Any, acceptable: list, expected: type, item_type: type | None) -> tuple[bool, bool]:
    """(type accepted, value is a "variable"): BFCL's type rule, nested one level for lists."""
    answer_type = _answer_type(acceptable)
    variable = answer_type is not None and answer_type is not expected
    if type(value) is expected:
        if item_type is None:
            return True, variable
        for option in acceptable:  # a list option types every item; any other option (e.g. "") admits all
            if not isinstance(option, list) or all(_type_ok(v, option, item_type, None)[0] for v in value):
                return True, variable
        return False, variable
    return answer_type is not None and type(value) is answer_type, True


def _as_items(option: Any) -> list | None:
    # BFCL iterates an option to standardise it: "" becomes [], a string its characters.
    return list(option) if isinstance(option, (list, str)) else None


def _dict_ok(value: dict, acceptable: list) -> bool:
    for option in acceptable:
        if not isinstance(option, dict):
            continue
        given = all(k in option and _std(v) in [_std(a) for a in option[k]] for k, v in value.items())
        if given and all(k in value or "" in option[k] for k in option):
            return True
    return False


def _dict_list_ok(value: list, acceptable: list) -> bool:
    for option in acceptable:
        items = _as_items(option)
        if items is not None and len(items) == len(value) and \
                all(isinstance(v, dict) and _dict_ok(v, [o]) for v, o in zip(value, items)):
            return True
    return False


def argument_ok(schema: dict, value: Any, acceptable: list) -> bool:
    """Whether ``value`` passes BFCL's type and value rules for a parameter ``schema`` with the answer's
    ``acceptable`` values."""
    expected = PY_TYPES.get(schema.get("type"))
    if expected is None:
        return False
    item_type = None
    if schema["type"] in ("array", "tuple"):
        item_type = PY_TYPES.get((schema.get("items") or {}).get("type"))
        if item_type is None:
            return False
    if schema["type"] == "float" and type(value) is int:
        value = float(value)
    typed, variable = _type_ok(value, acceptable, expected, item_type)
    if not typed:
        return False
    if not variable:
        if expected is dict:
            return _dict_ok(value, acceptable)
        if expected is list and item_type is dict:
            return _dict_list_ok(value, acceptable)
        if expected is str:
            return _std(value) in [_std(a) for a in acceptable if isinstance(a, str)]
        if expected is list:
            return [_std(v) for v in value] in [[_std(a) for a in items] for o in acceptable
                                                if (items := _as_items(o)) is not None]
    return value in acceptable


# ---- one call -------------------------------------------------------------------------------------
def _params(doc: dict) -> tuple[dict, list]:
    params = doc.get("parameters") or {}
    return params.get("properties") or {}, list(params.get("required") or [])


def _arg_ok(doc: dict, answer: dict, key: str, value: Any) -> bool:
    props, _ = _params(doc)
    return key in props and key in answer and argument_ok(props[key], value, answer[key])


def call_passes(doc: dict | None, answer: dict, call: dict) -> bool:
    """Whether ``call`` passes as a call of the function ``doc`` with answer arguments ``answer``."""
    if doc is None or call["name"] != doc.get("name"):
        return False
    args = call["arguments"]
    _, required = _params(doc)
    return (all(k in args for k in required) and all(_arg_ok(doc, answer, k, v) for k, v in args.items())
            and all(k in args or "" in answer[k] for k in answer))


def _doc(functions: list[dict], name: str) -> dict | None:
    return next((f for f in functions if f.get("name") == name), None)


def _expected(answer: list[dict]) -> list[tuple[str, dict]]:
    return [next(iter(item.items())) for item in answer]


def passes(category: str, functions: list[dict], answer: list[dict], calls: list[dict]) -> bool:
    """BFCL's verdict for the decoded ``calls`` on one row (``answer``: its possible_answer ground truth)."""
    how = kind(category)
    if how == "irrelevance":
        return not calls
    if how == "relevance":
        return bool(calls)
    expected = _expected(answer)
    if not expected or len(calls) != (1 if how == "simple" else len(expected)):
        return False
    if how == "simple":  # BFCL checks the one function shown, whatever name the answer gives
        return call_passes(functions[0] if functions else None, expected[0][1], calls[0])
    if how == "multiple":
        return call_passes(_doc(functions, expected[0][0]), expected[0][1], calls[0])
    free = list(range(len(calls)))
    for name, args in expected:  # BFCL: each answer call in order takes the first unmatched call that passes
        doc = _doc(functions, name)
        hit = next((j for j in free if call_passes(doc, args, calls[j])), None)
        if hit is None:
            return False
        free.remove(hit)
    return True


# ---- partial credit (the training reward) ---------------------------------------------------------
def _mandatory(doc: dict | None, answer: dict) -> set[str]:
    """Arguments a passing call must give: answer arguments without "" plus the schema's required ones."""
    required = set(_params(doc)[1]) if doc else set()
    return {k for k, acceptable in answer.items() if "" not in acceptable} | required


def _pair_score(doc: dict | None, answer: dict, call: dict) -> float:
    """Argument-name Jaccard + number of mandatory arguments given an acceptable value. An optional
    argument given an acceptable value is neutral; any other extra argument counts against the Jaccard."""
    args, must = call["arguments"], _mandatory(doc, answer)
    ok = {k for k, v in args.items() if doc is not None and _arg_ok(doc, answer, k, v)}
    counted = {k for k in args if k in must or k not in ok}
    union = must | counted
    jaccard = 1.0 if not union else len(must & counted) / len(union)
    return jaccard + len(must & ok)


def partial_score(category: str, functions: list[dict], answer: list[dict], calls: list[dict]) -> float:
    """ToolRL-style correctness in [0, 1] under BFCL's rules; 1 exactly when ``passes``."""
    how = kind(category)
    if how in ("irrelevance", "relevance"):
        return 1.0 if passes(category, functions, answer, calls) else 0.0
    expected = _expected(answer)
    if not calls or not expected:
        return 0.0
    want, got = Counter(n for n, _ in expected), Counter(c["name"] for c in calls)
    total = sum((want & got).values()) / sum((want | got).values())
    docs = [functions[0] if how == "simple" and functions else _doc(functions, n) for n, _ in expected]
    pairs = sorted(((_pair_score(docs[i], args, call), i, j) for i, (name, args) in enumerate(expected)
                    for j, call in enumerate(calls) if call["name"] == name), reverse=True)
    used_i, used_j = set(), set()
    for score, i, j in pairs:  # greedy best pairs first, as tool_rewards.match_score
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            total += score
    s_max = 1 + len(expected) + sum(len(_mandatory(docs[i], args)) for i, (_, args) in enumerate(expected))
    return total / s_max


# A row's JSON is parsed once for its G completions, not once per completion (read-only afterwards).
_parsed = lru_cache(maxsize=1024)(json.loads)


def score_text(text: str, category: str, functions_json: str, answer_json: str) -> tuple[float, bool]:
    """(partial score, BFCL pass) of one completion on one BFCL row (functions and answer as JSON)."""
    functions, answer = _parsed(functions_json), _parsed(answer_json)
    calls = decode(text)
    return partial_score(category, functions, answer, calls), passes(category, functions, answer, calls)
