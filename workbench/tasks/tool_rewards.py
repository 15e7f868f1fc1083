"""Tool-use objectives in the ToolRL style (as GDPO and DVAO use them), both in [0, 1].

A completion reads ``<think>...</think>`` then ``<tool_call>...</tool_call>`` and/or
``<response>...</response>``, nothing else around them. The tool_call block holds one JSON call per line
(or one JSON list): ``{"name": ..., "arguments": {...}}`` (``parameters`` accepted for ``arguments``).

format       1 when the tags are present once each, in that order, and the tool_call block parses.
correctness  ToolRL's matching (on the first tool_call block, wherever it is) score rescaled from [-3, 3] to [0, 1]: (name Jaccard + per matched call
             the Jaccard of argument names + the count of exactly equal values) / S_max, with
             S_max = 1 + |gold calls| + total gold argument names.
Parsing finds tags with str.find, so odd or very long text costs one pass, never a regex blow-up.
"""
from __future__ import annotations

import json
from typing import Any

THINK, TOOL, RESP = ("<think>", "</think>"), ("<tool_call>", "</tool_call>"), ("<response>", "</response>")
TAGS = [t for pair in (THINK, TOOL, RESP) for t in pair]


def _block(text: str, pair: tuple[str, str], pos: int) -> tuple[str, int] | None:
    """(content, end) of the block opening at ``pos`` (after whitespace), or None if absent there."""
    start = len(text) - len(text[pos:].lstrip())
    if not text.startswith(pair[0], start):
        return None
    close = text.find(pair[1], start + len(pair[0]))
    if close < 0:
        return None
    return text[start + len(pair[0]):close], close + len(pair[1])


def split_blocks(text: str) -> dict[str, str] | None:
    """``{"think": ..., "tool_call"?: ..., "response"?: ...}`` when the layout is valid, else None."""
    if any(text.count(tag) > 1 for tag in TAGS):
        return None
    think = _block(text, THINK, 0)
    if think is None or text[: text.find(THINK[0])].strip():
        return None
    out, pos = {"think": think[0]}, think[1]
    for key, pair in (("tool_call", TOOL), ("response", RESP)):
        block = _block(text, pair, pos)
        if block is not None:
            out[key], pos = block
    if len(out) == 1 or text[pos:].strip():
        return None
    return out


def _as_call(obj: Any) -> dict | None:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):  # some models emit the arguments as a JSON string
        args = json.loads(args)
    if not isinstance(args, dict):
        return None
    return {"name": obj["name"], "arguments": args}


def parse_calls(block: str) -> list[dict] | None:
    """Calls in a tool_call block (a JSON list, one object, or one object per line); None if any fails."""
    block = block.strip()
    if not block:
        return None
    try:
        whole = json.loads(block)
        items = whole if isinstance(whole, list) else [whole]
    except ValueError:
        try:
            items = [json.loads(line) for line in block.splitlines() if line.strip()]
        except ValueError:
            return None
    try:
        calls = [_as_call(item) for item in items]
    except ValueError:
        return None
    return None if not calls or any(c is None for c in calls) else calls


def predicted_calls(text: str) -> list[dict] | None:
    """The completion's calls: [] for a response-only answer, None when the layout or JSON is broken."""
    blocks = split_blocks(text)
    if blocks is None:
        return None
    if "tool_call" not in blocks:
        return []
    return parse_calls(blocks["tool_call"])


def format_score(text: str) -> float:
    """1.0 when the tags are well formed and any tool_call block parses, else 0.0."""
    return 0.0 if predicted_calls(text) is None else 1.0


def _jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _pair_score(gold: dict, pred: dict) -> float:
    g, p = gold["arguments"], pred["arguments"]
    return _jaccard(set(g), set(p)) + sum(1 for k, v in g.items() if k in p and p[k] == v)


def match_score(gold: list[dict], pred: list[dict] | None) -> float:
    """ToolRL correctness in [0, 1] for parsed ``pred`` against ``gold`` (None scores 0)."""
    if pred is None:
        return 0.0
    if not gold or not pred:
        return 1.0 if not gold and not pred else 0.0
    total = _jaccard({c["name"] for c in gold}, {c["name"] for c in pred})
    # Greedy matching on the per-pair score: the optimum for the one- and two-call rows of ToolRL-like
    # data, and never above it, so the score stays within [0, 1].
    pairs = sorted(((_pair_score(g, p), i, j) for i, g in enumerate(gold) for j, p in enumerate(pred)
                    if g["name"] == p["name"]), reverse=True)
    used_g, used_p = set(), set()
    for score, i, j in pairs:
        if i not in used_g and j not in used_p:
            used_g.add(i)
            used_p.add(j)
            total += score
    s_max = 1 + len(gold) + sum(len(c["arguments"]) for c in gold)
    return total / s_max


def called(text: str) -> list[dict] | None:
    """Calls in the first tool_call block wherever it sits ([] when there is none): correctness does
    not depend on the layout, so format and correctness are separate objectives."""
    start = text.find(TOOL[0])
    if start < 0:
        return []
    end = text.find(TOOL[1], start)
    return None if end < 0 else parse_calls(text[start + len(TOOL[0]):end])


def correctness_score(text: str, gold_json: str) -> float:
    """Correctness of a completion against the gold calls given as a JSON list string."""
    gold = [_as_call(c) for c in json.loads(gold_json)]
    return match_score(gold, called(text))
