"""Math data: an offline arithmetic generator (with worked and direct solutions for the warm-up) and
the DAPO-Math-17K parquet loader.

Generated problems are ``d``-digit additions, prompt ``"123+459="``, answer ``"582"``. Two solution
forms exist for the tiny model's warm-up: a worked one that writes each column sum (with its carry)
before the answer, ``"12 08 05 Answer:582"``, and a direct one, ``"Answer:582"``. The worked form is
longer and easier to get right: the conflict between the papers' accuracy and length rewards.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from workbench.tasks.math_rewards import MARKER

DAPO_FORMAT = ("a parquet file with one row per problem: column `prompt` = chat messages "
               "[{'role': 'user', 'content': ...}] and column `reward_model` = {'ground_truth': <answer>, ...} "
               "(the layout of BytedTsinghua-SIA/DAPO-Math-17k)")


def generate(n_train: int, n_eval: int, seed: int, digits: int = 3) -> tuple[list[dict], list[dict]]:
    """Disjoint train/eval lists of ``{"prompt", "answer"}`` rows, deterministic in ``seed``.

    Operands are uniform ``digits``-digit numbers; pairs are drawn without replacement from one
    stream, so no prompt appears in both splits.
    """
    lo, hi = 10 ** (digits - 1), 10 ** digits - 1
    space = (hi - lo + 1) ** 2
    if n_train + n_eval > space // 2:
        raise ValueError(f"task.data: {n_train}+{n_eval} problems is too many for {digits}-digit addition "
                         f"({space} distinct pairs); lower n_train/n_eval or raise digits")
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    rows: list[dict] = []
    while len(rows) < n_train + n_eval:
        pair = (rng.randint(lo, hi), rng.randint(lo, hi))
        if pair in seen:
            continue
        seen.add(pair)
        rows.append({"prompt": f"{pair[0]}+{pair[1]}=", "answer": str(pair[0] + pair[1])})
    return rows[:n_train], rows[n_train:]


def operands(prompt: str) -> tuple[int, int]:
    """The two operands of a generated prompt ``"a+b="``."""
    left, right = prompt.rstrip("=").split("+")
    return int(left), int(right)


def worked_solution(a: int, b: int) -> str:
    """Column sums least significant first, two digits each (carry included), then the answer."""
    da, db = str(a)[::-1], str(b)[::-1]
    carry, steps = 0, []
    for i in range(max(len(da), len(db))):
        s = int(da[i] if i < len(da) else 0) + int(db[i] if i < len(db) else 0) + carry
        steps.append(f"{s:02d}")
        carry = s // 10
    return " ".join(steps) + f" {MARKER}{a + b}"


def direct_solution(a: int, b: int) -> str:
    """Only the answer in the required form."""
    return f"{MARKER}{a + b}"


def _fail(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: {why}. Expected {DAPO_FORMAT}.")


def _user_text(messages: Any) -> str:
    """The user turn's content of one DAPO chat prompt (arrays from pyarrow count as lists)."""
    msgs = list(messages) if not isinstance(messages, (str, dict)) else None
    if not msgs or not all(isinstance(m, dict) and "content" in m for m in msgs):
        raise TypeError("prompt is not a list of {'role', 'content'} messages")
    return "\n".join(str(m["content"]) for m in msgs if m.get("role", "user") == "user")


def read_dapo(path: str | os.PathLike) -> list[dict]:
    """Rows ``{"messages": [...], "question": str, "answer": str}`` from a DAPO-Math-17K parquet file,
    duplicates (the hub file repeats each problem) removed, first occurrence kept."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Expected {DAPO_FORMAT}. "
                                "Point task.data.path at it (download it where a network exists).")
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for non-parquet bytes
        raise _fail(path, f"not a readable parquet file ({err.__class__.__name__}: {err})") from None
    missing = [c for c in ("prompt", "reward_model") if c not in frame.columns]
    if missing:
        raise _fail(path, f"missing column(s) {missing}; found {list(frame.columns)}")
    rows, seen = [], set()
    for i, (prompt, reward_model) in enumerate(zip(frame["prompt"], frame["reward_model"])):
        try:
            question = _user_text(prompt)
            answer = reward_model["ground_truth"]
        except (TypeError, KeyError, IndexError) as err:
            raise _fail(path, f"row {i} is malformed ({err})") from None
        if question in seen:
            continue
        seen.add(question)
        messages = [{"role": str(m.get("role", "user")), "content": str(m["content"])} for m in prompt]
        rows.append({"messages": messages, "question": question, "answer": str(answer)})
    if not rows:
        raise _fail(path, "it holds no rows")
    return rows


def load_hub_rows(hub_name: str) -> list[dict]:
    """Rows from the hub copy (only where a network exists); same shape as ``read_dapo``."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise RuntimeError(f"task.data.path is not set and HF_HUB_OFFLINE is on, so {hub_name!r} cannot be "
                           "downloaded: set task.data.path to a local DAPO-Math-17K parquet file")
    import datasets

    frame = datasets.load_dataset(hub_name, split="train").to_pandas()
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dapo-{os.getpid()}.parquet"
    frame.to_parquet(tmp)
    try:
        return read_dapo(tmp)
    finally:
        tmp.unlink(missing_ok=True)


def split_rows(rows: list[dict], n_train: int | None, n_eval: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Shuffle deterministically, hold out ``n_eval`` rows, keep up to ``n_train`` of the rest."""
    if n_eval >= len(rows):
        raise ValueError(f"task.data.n_eval={n_eval} leaves no training rows out of {len(rows)}; lower it")
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    eval_rows = [rows[i] for i in order[:n_eval]]
    train_rows = [rows[i] for i in order[n_eval:]]
    return (train_rows if n_train is None else train_rows[:n_train]), eval_rows


def dumps_messages(messages: list[dict]) -> str:
    """Stable text form of a chat prompt (used to compare prompts across splits)."""
    return json.dumps(messages, sort_keys=True)
