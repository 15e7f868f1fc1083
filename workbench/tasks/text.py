"""Helpers shared by reward functions: completion text extraction and a never-raise wrapper.

TRL passes completions as strings for plain-text prompts and as message lists
(``[{"role": "assistant", "content": ...}]``) for conversational prompts; rewards accept both.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence


def completion_text(completion: Any) -> str:
    """The generated text of one completion, whatever shape TRL gave it ("" when unusable)."""
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, (list, tuple)):
        return "".join(completion_text(m) for m in completion)
    return str(completion)


def token_length(text: str, ids: Sequence[int] | None) -> int:
    """Completion length in tokens: ``len(ids)`` when TRL passed ``completion_ids`` (eos included),
    else the character count (exact for the char-level tiny tokenizer, an upper bound otherwise)."""
    if ids is not None:
        try:
            return len(ids)
        except TypeError:
            pass
    return len(text)


def score_each(name: str, score: Callable[..., float | None]):
    """Turn a per-completion scorer into a TRL reward function named ``name``.

    ``score(text, ids, **row)`` sees one completion and that completion's dataset columns. Any
    exception or non-finite score becomes ``None`` (TRL turns it into NaN, the estimators skip it),
    because one odd completion must never stop a training run.
    """

    def reward(prompts=None, completions=None, completion_ids=None, **columns) -> list[float | None]:
        completions = list(completions or [])
        # Per-completion columns (lists from TRL, Column objects from `datasets`); anything else
        # (trainer_state, log_metric callbacks) is not row data.
        row_cols = {k: v for k, v in columns.items()
                    if hasattr(v, "__len__") and hasattr(v, "__getitem__") and not isinstance(v, (str, bytes, dict))
                    and len(v) == len(completions)}
        out: list[float | None] = []
        for i, completion in enumerate(completions):
            try:
                ids = completion_ids[i] if completion_ids is not None else None
                value = score(completion_text(completion), ids, **{k: v[i] for k, v in row_cols.items()})
                out.append(None if value is None or not math.isfinite(value) else float(value))
            except Exception:  # noqa: BLE001 - see docstring: a reward never crashes a run
                out.append(None)
        return out

    reward.__name__ = name
    reward.__qualname__ = name
    return reward
