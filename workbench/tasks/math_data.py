"""Math data: an offline arithmetic generator (with worked and direct solutions for the warm-up) and
the DAPO-Math-17K parquet loader.

Generated problems are additions at two difficulties: ``easy`` ones add two ``easy_digits``-digit
numbers (``"23+45="``), ``hard`` ones two ``digits``-digit numbers (``"123+459="``); the answer is the
sum (``"582"``) and each row carries its ``difficulty``. Two solution forms exist for the tiny model's
warm-up: a worked one that writes each column sum (with its carry) before the answer,
``"12 08 05 Answer:582"``, and a direct one, ``"Answer:582"``. The worked form is longer than the
task's length limit; it is reliable at both difficulties, the direct form only on easy problems
(measured: docs/tasks.md). So the best policy answers easy problems directly and pays length for
accuracy only on hard ones.
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


DIFFICULTIES = ("easy", "hard")


def _split(n: int, easy_frac: float) -> dict[str, int]:
    easy = round(n * easy_frac)
    return {"easy": easy, "hard": n - easy}


def generate(n_train: int, n_eval: int, seed: int, digits: int = 3, easy_digits: int = 2,
             easy_frac: float = 0.0) -> tuple[list[dict], list[dict]]:
    """Disjoint train/eval lists of ``{"prompt", "answer", "difficulty"}`` rows, deterministic in ``seed``.

    ``round(n * easy_frac)`` rows of each split are easy (``easy_digits``-digit operands), the rest
    hard (``digits``-digit operands). Within a difficulty, operand pairs are drawn without replacement,
    so no prompt appears twice or in both splits. Both splits are shuffled.
    """
    rng = random.Random(seed)
    train: list[dict] = []
    held: list[dict] = []
    n_tr, n_ev = _split(n_train, easy_frac), _split(n_eval, easy_frac)
    for difficulty, width in (("easy", easy_digits), ("hard", digits)):
        need = n_tr[difficulty] + n_ev[difficulty]
        if need == 0:
            continue
        lo, span = 10 ** (width - 1), 9 * 10 ** (width - 1)
        if need > span * span:
            raise ValueError(f"task.data: {need} {difficulty} problems but only {span * span} distinct "
                             f"{width}-digit additions exist; lower n_train/n_eval or easy_frac, or raise the digits")
        rows = [{"prompt": f"{lo + i // span}+{lo + i % span}=", "answer": str(2 * lo + i // span + i % span),
                 "difficulty": difficulty} for i in rng.sample(range(span * span), need)]
        held += rows[:n_ev[difficulty]]
        train += rows[n_ev[difficulty]:]
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held


def operands(prompt: str) -> tuple[int, int]:
    """The two operands of a generated prompt ``"a+b="``."""
    left, right = prompt.split("=", 1)[0].split("+")
    return int(left), int(right)


def worked_solution(a: int, b: int) -> str:
    """The number of columns, then each column sum least significant first (two digits, carry included),
    then the answer: ``"3 12 08 05 Answer:582"``. Opening with the column count makes the worked form's
    first token differ between difficulties, so RL can change how often each difficulty is worked
    (docs/tasks.md: with a shared first token one difficulty's update moved the other as much)."""
    da, db = str(a)[::-1], str(b)[::-1]
    carry, steps = 0, []
    for i in range(max(len(da), len(db))):
        s = int(da[i] if i < len(da) else 0) + int(db[i] if i < len(db) else 0) + carry
        steps.append(f"{s:02d}")
        carry = s // 10
    return f"{len(steps)} " + " ".join(steps) + f" {MARKER}{a + b}"


def direct_solution(a: int, b: int) -> str:
    """Only the answer in the required form."""
    return f"{MARKER}{a + b}"


FORMS = ("direct", "worked")


def answer_form(text: str) -> str:
    """Which solution form a completion took: ``direct`` (starts with the answer marker), ``worked``
    (column sums, then the marker) or ``other`` (no marker, or anything else)."""
    if text.startswith(MARKER):
        return "direct"
    if text[:1].isdigit() and MARKER in text:
        return "worked"
    return "other"


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
