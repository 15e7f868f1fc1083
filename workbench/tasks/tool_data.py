"""Tool-use data: an offline generator of small catalogues, requests and gold calls, and the ToolRL
(rlla) JSON loader.

Generated rows: prompt ``"tools: alarm(hour) weather(city)\\nuser: weather in rome\\n"``, gold
``[{"name": "weather", "arguments": {"city": "rome"}}]``. Strings are short so a whole call fits the tiny
model's 24-token completions (tags and JSON glue are single tokens there).
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

from workbench.tasks.tool_rewards import TOOL, THINK, _as_call, parse_calls

TOOLS = {  # tool -> (argument names, request template)
    "weather": (("city",), "weather in {city}"),
    "alarm": (("hour",), "wake me at {hour}"),
    "ring": (("who",), "phone {who}"),
    "play": (("song",), "put on {song}"),
    "timer": (("mins",), "timer {mins} min"),
    "say": (("text", "lang"), "say {text} in {lang}"),
    "book": (("city", "day"), "trip to {city} on {day}"),
}
VALUES = {
    "city": ["rome", "oslo", "lima", "kyiv", "doha", "bern", "nice", "riga"],
    "hour": [str(h) for h in range(1, 13)],
    "who": ["ann", "bob", "eve", "tom", "kim", "joe"],
    "song": ["jazz", "rock", "pop", "folk", "soul"],
    "mins": ["5", "10", "15", "20", "30", "45"],
    "text": ["hi", "yes", "no", "bye"],
    "lang": ["fr", "de", "es", "it"],
    "day": ["mon", "tue", "wed", "fri", "sat"],
}
# Strings the tiny tokenizer keeps whole, as real tokenizers keep <tool_call> (longest match wins).
JSON_GLUE = ['{"name": "', '", "arguments": {', '": "', '", "', '"}}', '{}}']

TOOLRL_FORMAT = ("a JSON list (or JSON Lines) of ToolRL rows {'instruction': <system prompt listing the tools>, "
                 "'input': <user turn>, 'output': '<think>...</think>\\n<tool_call>\\n{\"name\": ..., "
                 "\"parameters\": {...}}\\n</tool_call>'}; a row may give 'tool_calls': [{'name', 'arguments'}] "
                 "instead of 'output' (the layout of ToolRL's dataset/rlla_4k_raw/rlla_rl.json)")


def render_call(call: dict) -> str:
    """One call as compact JSON in the form the warm-up teaches."""
    return json.dumps({"name": call["name"], "arguments": call["arguments"]})


def generate(n_train: int, n_eval: int, seed: int, n_tools: int = 3) -> tuple[list[dict], list[dict]]:
    """Disjoint train/eval rows ``{"prompt", "gold"}`` (gold: JSON list of calls), deterministic in seed.

    Each prompt shows ``n_tools`` tools (the needed one plus distractors, shuffled) and one request.
    """
    if not 1 <= n_tools <= len(TOOLS):
        raise ValueError(f"task.data.n_tools={n_tools}: must lie in [1, {len(TOOLS)}]")
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict] = []
    names = sorted(TOOLS)
    for _ in range(50 * (n_train + n_eval)):
        if len(rows) == n_train + n_eval:
            break
        tool = rng.choice(names)
        arg_names, template = TOOLS[tool]
        args = {a: rng.choice(VALUES[a]) for a in arg_names}
        shown = rng.sample([t for t in names if t != tool], n_tools - 1) + [tool]
        rng.shuffle(shown)
        catalogue = " ".join(f"{t}({','.join(TOOLS[t][0])})" for t in shown)
        prompt = f"tools: {catalogue}\nuser: {template.format(**args)}\n"
        if prompt in seen:
            continue
        seen.add(prompt)
        rows.append({"prompt": prompt, "gold": json.dumps([{"name": tool, "arguments": args}])})
    if len(rows) < n_train + n_eval:
        raise ValueError(f"task.data: only {len(rows)} distinct tool prompts exist for n_tools={n_tools}; "
                         f"lower n_train+n_eval={n_train + n_eval}")
    return rows[:n_train], rows[n_train:]


def _fail(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: {why}. Expected {TOOLRL_FORMAT}.")


def _gold_from_output(output: str) -> list[dict]:
    """Gold calls in a ToolRL ``output`` string ([] for a response-only answer)."""
    start = output.find(TOOL[0])
    if start < 0:
        return []
    end = output.find(TOOL[1], start)
    calls = parse_calls(output[start + len(TOOL[0]):end if end >= 0 else len(output)])
    if calls is None:
        raise ValueError("its <tool_call> block is not JSON calls")
    return calls


def read_toolrl(path: str | os.PathLike) -> list[dict]:
    """Rows ``{"system", "user", "gold"}`` (gold: JSON list of calls) from a ToolRL JSON/JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Expected {TOOLRL_FORMAT}. Point task.data.path at it.")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as err:
            raise _fail(path, f"neither JSON nor JSON Lines ({err})") from None
    if not isinstance(data, list) or not data:
        raise _fail(path, "the top level is not a non-empty list of rows")
    rows = []
    for i, row in enumerate(data):
        try:
            if not isinstance(row, dict) or "input" not in row:
                raise ValueError("not an object with an 'input' field")
            if "tool_calls" in row:
                calls = [_as_call(c) for c in row["tool_calls"]]
                if any(c is None for c in calls):
                    raise ValueError("a tool_calls entry lacks name/arguments")
            elif "output" in row:
                calls = _gold_from_output(str(row["output"]))
            else:
                raise ValueError("neither 'output' nor 'tool_calls'")
        except (ValueError, TypeError) as err:
            raise _fail(path, f"row {i} is malformed ({err})") from None
        rows.append({"system": str(row.get("instruction", "")), "user": str(row["input"]),
                     "gold": json.dumps(calls)})
    return rows


def demonstration(gold_json: str, with_think: bool = True) -> str:
    """A well-formed completion making the gold calls; the think block names the tools."""
    calls = json.loads(gold_json)
    think = f"{THINK[0]}{' '.join(c['name'] for c in calls)}{THINK[1]}" if with_think else ""
    return think + TOOL[0] + "\n".join(render_call(c) for c in calls) + TOOL[1]
