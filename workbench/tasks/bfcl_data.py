"""BFCL v4 single-turn data, read from the ``bfcl-eval`` wheel (or a local copy of its data folder),
and the prompt rendering.

Files: ``BFCL_v4_<category>.json`` (JSON Lines: ``id``, ``question`` = [[chat messages]], ``function`` =
the function schemas in BFCL's dialect) and, for the AST categories, ``possible_answer/`` with the same
name (``id``, ``ground_truth`` = [{function: {argument: [acceptable values]}}]). Rows become
``{"id", "category", "messages", "functions", "answer"}`` (functions and answer as JSON strings).

Prompts (``render``): with a tokenizer that has a chat template, the messages (a system line asking
for the task's ``<think>``/``<tool_call>``/``<response>`` layout first) go through the template with the
functions as ``tools=`` in JSON-schema form (BFCL's own type mapping: dict -> object, float -> number,
tuple -> array, any -> string); a template with no tools slot gets them in the system message instead.
Without a chat template (the tiny model) the prompt is the generated tool task's compact layout,
``tools: f(a,b) g(c)\\nuser: ...\\n``: names only, no descriptions or types.
"""
from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from workbench.tasks.bfcl_scoring import kind

BFCL_VERSION = "2026.3.23"
INSTALL = f'pip install --no-deps "bfcl-eval=={BFCL_VERSION}"'
CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple",
              "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance")
UNSUPPORTED = {  # category -> why it is not a single-turn Python AST category
    "simple_java": "its values are Java source strings checked by BFCL's Java type converter",
    "simple_javascript": "its values are JavaScript source strings checked by BFCL's JS type converter",
    "multi_turn_base": "multi-turn, scored by executing the calls", "multi_turn_miss_func": "multi-turn",
    "multi_turn_miss_param": "multi-turn", "multi_turn_long_context": "multi-turn",
    "memory": "agentic (memory backend)", "web_search": "agentic (web search)",
    "format_sensitivity": "a prompt-format sweep over other categories",
}
OPENAPI_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}
FORMAT_HINT = ("Think step by step inside <think>...</think>. Then call functions inside <tool_call>...</tool_call>, "
               'one JSON object {"name": ..., "arguments": {...}} per line, or, if no function fits the request, '
               "answer inside <response>...</response>.")


def check_categories(categories: list[str]) -> None:
    """Raise with the valid names when a category is unknown or not a single-turn AST category."""
    bad = [c for c in categories if c not in CATEGORIES]
    if bad or not categories:
        why = "; ".join(f"{c}: {UNSUPPORTED[c]}" for c in bad if c in UNSUPPORTED)
        raise ValueError(f"task.data.categories={categories}: choose from {list(CATEGORIES)}"
                         + (f" ({why}: not supported)" if why else ""))


def data_dir(path: str | None = None) -> Path:
    """The folder holding ``BFCL_v4_*.json``: ``path`` if given, else the installed bfcl-eval's data."""
    if path:
        folder = Path(path).expanduser()
        if not folder.is_dir() or not any(folder.glob("BFCL_v4_*.json")):
            raise FileNotFoundError(f"task.data.path={folder}: expected a BFCL data folder holding "
                                    "BFCL_v4_<category>.json files and possible_answer/ (bfcl_eval/data)")
        return folder
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"task.data.source=bfcl needs the BFCL data: run `{INSTALL}` (make install does; "
                                  "--no-deps skips its API-client dependencies, which are not needed) or set "
                                  "task.data.path=/path/to/bfcl_eval/data")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _json_lines(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the BFCL data folder")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as err:
                raise ValueError(f"{path}:{n}: not a JSON line ({err})") from None
    return rows


def read_category(folder: Path, category: str) -> list[dict]:
    """Rows of one category, each with its gold answer ("[]" for the (ir)relevance categories)."""
    name = f"BFCL_v4_{category}.json"
    questions = _json_lines(folder / name)
    answers = {}
    if kind(category) not in ("irrelevance", "relevance"):
        answers = {r["id"]: r["ground_truth"] for r in _json_lines(folder / "possible_answer" / name)}
    rows = []
    for q in questions:
        try:
            messages, functions = q["question"][0], q["function"]
            answer = answers[q["id"]] if answers else []
        except (KeyError, IndexError, TypeError) as err:
            raise ValueError(f"{folder / name}: row {q.get('id', '?')!r} lacks question/function or its "
                             f"possible answer ({err!r})") from None
        rows.append({"id": q["id"], "category": category, "messages": messages,
                     "functions": json.dumps(functions), "answer": json.dumps(answer)})
    return rows


def load(categories: list[str], path: str | None = None) -> dict[str, list[dict]]:
    """Category -> rows, for the selected categories."""
    check_categories(categories)
    folder = data_dir(path)
    return {c: read_category(folder, c) for c in categories}


def split(by_category: dict[str, list[dict]], n_train: int | None, n_eval: int, seed: int) -> tuple[list, list]:
    """Held-out rows dealt round-robin over the categories (so the first k eval rows cover them evenly),
    the rest shuffled into the training split (at most ``n_train``). Deterministic in ``seed``."""
    rng = random.Random(seed)
    pools = []
    for category in sorted(by_category):
        rows = list(by_category[category])
        rng.shuffle(rows)
        pools.append(rows)
    total = sum(map(len, pools))
    if n_eval >= total:
        raise ValueError(f"task.data.n_eval={n_eval} leaves no training rows out of {total} BFCL rows; lower it")
    held: list[dict] = []
    depth = 0
    while len(held) < n_eval:
        held += [pool[depth] for pool in pools if depth < len(pool)][: n_eval - len(held)]
        depth += 1
    taken = {id(r) for r in held}
    train = [r for pool in pools for r in pool if id(r) not in taken]
    rng.shuffle(train)
    return (train if n_train is None else train[:n_train]), held


# ---- prompts --------------------------------------------------------------------------------------
def _openapi(schema):
    if isinstance(schema, dict):
        out = {k: _openapi(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = OPENAPI_TYPES.get(out["type"], out["type"])
        return out
    if isinstance(schema, list):
        return [_openapi(v) for v in schema]
    return schema


def json_schema_tools(functions: list[dict]) -> list[dict]:
    """The functions as chat-template tools: ``{"type": "function", "function": {...}}``, JSON-schema types."""
    return [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                              "parameters": _openapi(f.get("parameters", {}))}} for f in functions]


def compact(messages: list[dict], functions: list[dict]) -> str:
    """The generated tool task's plain layout: ``tools: f(a,b) g(c)\\n<role>: <content>\\n...``."""
    sigs = " ".join(f"{f['name']}({','.join((f.get('parameters') or {}).get('properties') or {})})" for f in functions)
    return f"tools: {sigs}\n" + "".join(f"{m.get('role', 'user')}: {m.get('content', '')}\n" for m in messages)


def _with_system(messages: list[dict], text: str) -> list[dict]:
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n\n{text}"}] + list(messages[1:])
    return [{"role": "system", "content": text}] + list(messages)


def render(messages: list[dict], functions: list[dict], tokenizer=None, chat: bool = True) -> str:
    """The prompt text for one row (see the module docstring for the three layouts)."""
    template = getattr(tokenizer, "chat_template", None) if chat and tokenizer is not None else None
    if not template:
        return compact(messages, functions)
    messages, tools = _with_system(messages, FORMAT_HINT), json_schema_tools(functions)
    if "tools" in template:
        return tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    listing = "Available functions (JSON schema), one per line:\n" + "\n".join(json.dumps(t) for t in tools)
    return tokenizer.apply_chat_template(_with_system(messages, listing), add_generation_prompt=True, tokenize=False)
