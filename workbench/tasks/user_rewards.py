"""Reward functions a user names by import path (``task.rewards``), checked before any run starts.

TRL's contract (GRPOTrainer ``reward_funcs``): ``f(prompts, completions, **kwargs) -> list[float | None]``,
called with keyword arguments ``prompts``, ``completions`` (strings, or ``[{"role": "assistant", "content":
...}]`` for chat prompts), ``completion_ids``, every dataset column but the prompt (one list entry per
completion), ``trainer_state``, ``log_extra`` and ``log_metric``. ``None`` or NaN is a missing reward (the
estimators leave it out of the statistics); anything else must be a finite number. ``async def`` functions
are awaited, as TRL does.

``load`` imports and checks each function (signature; a probe call on a few training rows, so a
function that raises or returns the wrong thing fails before the run directory exists), ``check_values``
is the check the trainer applies to every call during training (workbench/train/trainer.py).
"""
from __future__ import annotations

import asyncio
import functools
import inspect
import math
import numbers
from typing import Any, Callable, Sequence

from workbench import plugins

# Keyword arguments TRL 1.16 passes to every reward function besides the dataset's columns.
TRL_KWARGS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")
# ... and, only for environment tasks (not run here), ``environments``.
RESERVED_COLUMNS = (*TRL_KWARGS, "environments")
# Dataset columns TRL drops before calling reward functions (so a function could never see them).
TRL_DROPPED = ("prompt", "completion", "completion_ids")
PROBE_ROWS = 4
PROBE_COMPLETIONS = ("", "The answer is 42.")


class RewardValueError(ValueError):
    """A reward function returned something that is not one reward per completion."""


def _noop(*_args, **_kwargs) -> None:
    return None


def check_values(name: str, values: Any, n: int, prompts: Sequence | None = None) -> list[float | None]:
    """``values`` as a list of floats or None (NaN -> None); raises RewardValueError naming function ``name``
    and the offending row when it is not a sequence of ``n`` numbers (None/NaN allowed, inf not)."""
    if hasattr(values, "tolist") and not isinstance(values, (list, tuple)):
        values = values.tolist()  # numpy array or tensor
    if not isinstance(values, (list, tuple)):
        raise RewardValueError(f"reward function {name!r} returned {type(values).__name__} {_clip(values)}; it must "
                               f"return a list with one float (or None) per completion ({n} here).")
    if len(values) != n:
        raise RewardValueError(f"reward function {name!r} returned {len(values)} values for {n} completions; it "
                               "must return exactly one float (or None) per completion, in order.")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None or (isinstance(v, numbers.Real) and math.isnan(float(v))):
            out.append(None)
            continue
        if not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            where = f" (prompt {_clip(prompts[i], 80)})" if prompts is not None and i < len(prompts) else ""
            raise RewardValueError(f"reward function {name!r} returned {_clip(v)} for row {i}{where}; a reward is a "
                                   "finite number, or None / NaN for a missing reward.")
        out.append(float(v))
    return out


def _clip(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def call(fn: Callable, **kwargs) -> Any:
    """Call a reward function (awaiting an ``async def`` one), with TRL's keyword arguments."""
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(fn(**kwargs))
    return fn(**kwargs)


def named(fn: Callable, name: str) -> Callable:
    """``fn`` under the objective's name (TRL and the metric keys use ``__name__``), async kept async."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def renamed_async(*args, **kwargs):
            return await fn(*args, **kwargs)
        renamed = renamed_async
    else:
        @functools.wraps(fn)
        def renamed_sync(*args, **kwargs):
            return fn(*args, **kwargs)
        renamed = renamed_sync
    renamed.__name__ = renamed.__qualname__ = name
    return renamed


def _check_signature(fn: Callable, path: str, columns: Sequence[str]) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C callable: the probe call decides
    names = [c for c in columns if c not in TRL_DROPPED]
    try:
        sig.bind(**{k: None for k in (*TRL_KWARGS, *names)})
    except TypeError as exc:
        raise ValueError(f"task.rewards: {path} has the wrong signature {sig} ({exc}). TRL calls it as "
                         f"f(prompts=..., completions=..., completion_ids=..., trainer_state=..., <columns: "
                         f"{', '.join(names) or 'none'}>, ...); define it as `def f(prompts, completions, **kwargs)` "
                         "and read the columns you need from kwargs.") from None


def _probe(fn: Callable, name: str, path: str, rows: list[dict], prompt_key: str) -> None:
    """Call ``fn`` on the first rows with a few canned completions: it must return one finite reward (or
    None) per completion and must not raise, whatever the text (an empty completion included)."""
    rows = rows[:PROBE_ROWS]
    pairs = [(r, c) for r in rows for c in PROBE_COMPLETIONS]
    prompts = [r[prompt_key] for r, _ in pairs]
    chat = isinstance(prompts[0], list)
    completions = [[{"role": "assistant", "content": c}] if chat else c for _, c in pairs]
    columns = {k: [r[k] for r, _ in pairs] for k in rows[0] if k != prompt_key and k not in TRL_DROPPED}
    try:
        values = call(fn, prompts=prompts, completions=completions, completion_ids=[[] for _ in pairs],
                      trainer_state=None, log_extra=_noop, log_metric=_noop, **columns)
    except Exception as exc:  # noqa: BLE001 - name the user's function and the input that broke it
        culprit = _first_failing(fn, prompts, completions, columns)
        where = (f"row {culprit // len(PROBE_COMPLETIONS)} (prompt {_clip(prompts[culprit], 80)}) with completion "
                 f"{completions[culprit]!r}") if culprit is not None else f"the first {len(rows)} rows"
        raise ValueError(f"task.rewards: {path} ({name!r}) raised {type(exc).__name__}: {exc} on {where}. A reward "
                         "function must return a float or None (missing) for any completion, empty ones included.") \
            from None
    try:
        check_values(name, values, len(pairs), prompts)
    except RewardValueError as exc:
        raise ValueError(f"task.rewards: {path}: {exc} (probe call on the first {len(rows)} training rows)") from None


def _first_failing(fn: Callable, prompts: list, completions: list, columns: dict) -> int | None:
    for i in range(len(prompts)):
        try:
            call(fn, prompts=prompts[i:i + 1], completions=completions[i:i + 1], completion_ids=[[]],
                 trainer_state=None, log_extra=_noop, log_metric=_noop, **{k: v[i:i + 1] for k, v in columns.items()})
        except Exception:  # noqa: BLE001
            return i
    return None


def load(paths: Sequence[str], names: Sequence[str] | None, rows: list[dict], prompt_key: str) -> list[Callable]:
    """The reward functions ``paths`` name, renamed to their objective names and checked (see module doc)."""
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not paths:
        raise ValueError("task.rewards is empty: list your reward functions as import paths, e.g. "
                         "task.rewards=[my_rewards.accuracy,my_rewards.brevity] (my_rewards.py in the folder the "
                         "command starts in).")
    fns = []
    for i, path in enumerate(paths):
        try:
            fn = plugins.import_object(path, f"task.rewards[{i}]")
        except plugins.PluginError as exc:
            raise ValueError(str(exc)) from None
        if not callable(fn):
            raise ValueError(f"task.rewards[{i}]={path!r} is a {type(fn).__name__}, not a function.")
        fns.append(fn)
    if names is None:
        names = [getattr(fn, "__name__", None) for fn in fns]
    if len(names) != len(fns):
        raise ValueError(f"task.objectives has {len(names)} names for {len(fns)} reward functions; give one name "
                         "per function, in the same order, or leave it null (the functions' names).")
    from workbench.train.config import NAME  # the run-label rule: objective names end up in metric keys

    for path, name in zip(paths, names):
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(f"objective name {name!r} (of {path}) must be letters, digits and . _ + -; name it with "
                             "task.objectives=[...] (one name per reward function).")
    if len(set(names)) != len(names):
        raise ValueError(f"objective names {list(names)} repeat; two reward functions need two names "
                         "(task.objectives=[...]).")
    columns = list(rows[0]) if rows else []
    for fn, path, name in zip(fns, paths, names):
        _check_signature(fn, path, [c for c in columns if c != prompt_key])
        _probe(fn, name, path, rows, prompt_key)
    return [named(fn, name) for fn, name in zip(fns, names)]
