"""The ``custom`` task: a researcher's own prompts and reward functions (``task=custom``).

    python -m workbench.run task=custom task.data.path=prompts.jsonl \\
        'task.rewards=[my_rewards.accuracy,my_rewards.brevity]' model=hf model.path=./my-model

Data: a JSONL, JSON, CSV or Parquet file, or a folder ``datasets.save_to_disk`` wrote, read with the
``datasets`` library. ``task.data.prompt_key`` names the prompt column (a string, or a chat message list
``[{"role": ..., "content": ...}]``); every other column reaches the reward functions as a keyword
argument, as in TRL. The held-out split is ``task.data.eval_path`` or, without it, a seeded share
``task.data.eval_fraction`` of the *distinct* prompts (a prompt repeated in the file never lands on both
sides); the split is recorded in the run directory (data_split.json).

Objectives: one per reward function (workbench/tasks/user_rewards.py), named after the function or by
``task.objectives``. Held-out evaluation scores the same functions on sampled completions of the eval
split: ``eval/<objective>`` is each objective's mean over the completions it scored (missing rewards left
out), so the Pareto analysis gets one axis per objective. docs/your-experiment.md is the user's guide.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from workbench import plugins
from workbench.tasks import user_rewards
from workbench.tasks.base import EvalAxis
from workbench.tasks.config import EvalOptions, check, from_mapping
from workbench.tasks.registry import register

log = logging.getLogger(__name__)
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class CustomData:
    path: str | None = None          # JSONL / JSON / CSV / Parquet file or a save_to_disk folder (required)
    eval_path: str | None = None     # held-out prompts (same columns); null: a seeded share of `path`
    eval_fraction: float = 0.1       # share of distinct prompts held out when eval_path is null
    prompt_key: str = "prompt"       # column holding the prompt: a string or a chat message list
    seed: int = 0                    # the held-out split's seed


@dataclass
class CustomConfig:
    name: str = "custom"             # the task's label: run directory, summary, plot panels
    kind: str = "llm"
    rewards: list = field(default_factory=list)   # reward functions as import paths module.function, in order
    objectives: list | None = None   # objective names, one per reward (null: the functions' names)
    data: CustomData = field(default_factory=CustomData)
    eval: EvalOptions = field(default_factory=EvalOptions)

    def __post_init__(self):
        check(self.kind == "llm", "task.kind must be `llm` for the custom task")
        check(isinstance(self.data.eval_fraction, (int, float)) and 0 < self.data.eval_fraction < 1,
              f"task.data.eval_fraction={self.data.eval_fraction!r} must lie strictly between 0 and 1 "
              "(or give task.data.eval_path)")
        check(isinstance(self.data.prompt_key, str) and bool(self.data.prompt_key),
              "task.data.prompt_key must name the prompt column")


# ---- reading ----------------------------------------------------------------------------------
def resolve(path: str, key: str) -> Path:
    """``path`` as given, relative paths taken from the folder the command started in."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError(f"{key} is not set: give your prompts as a JSONL, JSON, CSV or Parquet file or a "
                         f"datasets.save_to_disk folder, e.g. {key}=prompts.jsonl")
    p = Path(path).expanduser()
    p = p if p.is_absolute() else plugins.launch_dir() / p
    if not p.exists():
        raise ValueError(f"{key}={path}: no such file or folder ({p}).")
    return p


def read_rows(path: str, key: str) -> list[dict]:
    """Every row of the file or save_to_disk folder at ``path`` as a dict (through ``datasets``)."""
    import datasets

    p = resolve(path, key)
    try:
        if p.is_dir():
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                if "train" not in ds:
                    raise ValueError(f"the DatasetDict has splits {sorted(ds)} and no `train` split; save the split "
                                     "to use (ds['name'].save_to_disk(...)) or rename it")
                ds = ds["train"]
        else:
            fmt = FORMATS.get(p.suffix.lower())
            if fmt is None:
                raise ValueError(f"unknown file type {p.suffix or '(none)'}; use one of {', '.join(FORMATS)} or a "
                                 "datasets.save_to_disk folder")
            if p.stat().st_size == 0:
                raise ValueError("the file is empty")
            ds = datasets.load_dataset(fmt, data_files=str(p), split="train")
    except ValueError as exc:
        raise ValueError(f"{key}={path}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - datasets' many parse errors: one message naming the file
        raise ValueError(f"{key}={path}: cannot read it ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})") \
            from None
    if len(ds) == 0:
        raise ValueError(f"{key}={path}: no rows.")
    return ds.to_list()


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents): the data a run was trained on."""
    h = hashlib.sha256()
    files = sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]
    for q in files:
        h.update(str(q.relative_to(path) if path.is_dir() else q.name).encode())
        with open(q, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def check_prompts(rows: list[dict], key: str, where: str) -> None:
    """Every row has a usable prompt: a non-empty string or a list of {role, content} messages."""
    if key not in rows[0]:
        raise ValueError(f"{where}: no prompt column {key!r}; its columns are {sorted(rows[0])}. Name the prompt "
                         f"column with task.data.prompt_key=COLUMN.")
    for i, row in enumerate(rows):
        p = row.get(key)
        ok = (isinstance(p, str) and p.strip()) or (
            isinstance(p, list) and p and all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                              and isinstance(m.get("content"), str) for m in p))
        if not ok:
            raise ValueError(f"{where}: row {i} has prompt {p!r}; a prompt is a non-empty string or a list of chat "
                             'messages like [{"role": "user", "content": "..."}].')
    reserved = sorted(set(rows[0]) & set(user_rewards.RESERVED_COLUMNS + ("completion",)) - {key})
    if reserved:
        raise ValueError(f"{where}: column(s) {reserved} clash with the arguments TRL passes to reward functions "
                         f"({', '.join(user_rewards.RESERVED_COLUMNS)}) or are dropped by it; rename them.")


def prompt_id(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def held_out_split(rows: list[dict], key: str, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train, eval) row indices: a seeded share ``fraction`` of the distinct prompts is held out, every row
    of a held-out prompt with it, so no prompt is on both sides. Row order is kept within each split."""
    distinct = list(dict.fromkeys(prompt_id(r[key]) for r in rows))
    n_eval = max(1, round(fraction * len(distinct)))
    if len(distinct) - n_eval < 1:
        raise ValueError(f"task.data: {len(distinct)} distinct prompt(s) cannot be split into training and held-out "
                         f"prompts with eval_fraction={fraction}; add prompts or give task.data.eval_path.")
    held = set(random.Random(seed).sample(distinct, n_eval))
    train = [i for i, r in enumerate(rows) if prompt_id(r[key]) not in held]
    evals = [i for i, r in enumerate(rows) if prompt_id(r[key]) in held]
    return train, evals


# ---- the task ---------------------------------------------------------------------------------
class CustomTask:
    """Prompts from the user's file, objectives from the user's reward functions."""

    def __init__(self, cfg: CustomConfig):
        self.cfg = cfg
        self.name = cfg.name
        d = cfg.data
        rows = read_rows(d.path, "task.data.path")
        check_prompts(rows, d.prompt_key, f"task.data.path={d.path}")
        if d.prompt_key != "prompt" and "prompt" in rows[0]:
            raise ValueError(f"task.data.path={d.path} has a `prompt` column besides task.data.prompt_key="
                             f"{d.prompt_key}; TRL reads `prompt`, so rename one of them.")
        if d.eval_path:
            eval_rows = read_rows(d.eval_path, "task.data.eval_path")
            check_prompts(eval_rows, d.prompt_key, f"task.data.eval_path={d.eval_path}")
            missing = sorted(set(rows[0]) - set(eval_rows[0]))
            if missing:
                raise ValueError(f"task.data.eval_path={d.eval_path} lacks column(s) {missing} that the training data "
                                 "has (the reward functions may read them); give both files the same columns.")
            train_idx, eval_idx = list(range(len(rows))), None
            overlap = {prompt_id(r[d.prompt_key]) for r in rows} & {prompt_id(r[d.prompt_key]) for r in eval_rows}
            if overlap:
                log.warning("%d prompt(s) of task.data.eval_path are also training prompts: the held-out scores are "
                            "not fully held out", len(overlap))
            self._train, self._eval = rows, eval_rows
        else:
            train_idx, eval_idx = held_out_split(rows, d.prompt_key, d.eval_fraction, d.seed)
            self._train, self._eval = [rows[i] for i in train_idx], [rows[i] for i in eval_idx]
        if d.prompt_key != "prompt":  # TRL reads the `prompt` column
            self._train = [_rekey(r, d.prompt_key) for r in self._train]
            self._eval = [_rekey(r, d.prompt_key) for r in self._eval]
        self._split = self._describe_split(train_idx, eval_idx)
        self._funcs = user_rewards.load(cfg.rewards, cfg.objectives, self._train, "prompt")

    def _describe_split(self, train_idx: list[int], eval_idx: list[int] | None) -> dict[str, Any]:
        d = self.cfg.data
        path = resolve(d.path, "task.data.path")
        record: dict[str, Any] = {"path": str(path), "sha256": file_digest(path), "rows": len(train_idx) + len(eval_idx or []),
                                  "n_train": len(self._train), "n_eval": len(self._eval), "prompt_key": d.prompt_key}
        if eval_idx is None:
            eval_path = resolve(d.eval_path, "task.data.eval_path")
            record.update(eval_path=str(eval_path), eval_sha256=file_digest(eval_path))
        else:
            record.update(eval_fraction=d.eval_fraction, seed=d.seed, eval_rows=eval_idx)
        return record

    # ---- the task contract (workbench/tasks/base.py) ---------------------------------------
    @property
    def objectives(self) -> list[str]:
        return [fn.__name__ for fn in self._funcs]

    def reward_funcs(self):
        return list(self._funcs)

    def train_dataset(self):
        import datasets

        return datasets.Dataset.from_list(self._train)

    def eval_dataset(self):
        import datasets

        return datasets.Dataset.from_list(self._eval[: self.cfg.eval.n_prompts])

    @property
    def eval_axes(self) -> list[EvalAxis]:
        return [EvalAxis(name) for name in self.objectives]

    def run_record(self) -> dict[str, dict]:
        """Files for the run directory: ``data_split.json`` (which data, which rows were held out)."""
        return {"data_split.json": self._split}

    def evaluate(self, prompts: Sequence[Any], completions: Sequence[str], rows: dict[str, list[Any]],
                 completion_lengths: Sequence[int], completion_ids: Sequence[Sequence[int]] | None = None
                 ) -> dict[str, float]:
        """Each objective's mean reward over the sampled completions (missing rewards left out; NaN when every
        one is missing) and ``mean_length`` (tokens). The reward functions see what TRL gives them in training,
        except ``trainer_state`` (None here) and ``log_extra`` / ``log_metric`` (ignored)."""
        n = len(completions)
        if n == 0:
            raise ValueError("evaluate() got no completions")
        prompts = list(prompts)
        chat = isinstance(prompts[0], list)
        shaped = [[{"role": "assistant", "content": c}] if chat else c for c in completions]
        columns = {k: list(v) for k, v in rows.items() if k not in user_rewards.TRL_DROPPED}
        ids = [list(x) for x in completion_ids] if completion_ids is not None else [[] for _ in range(n)]
        out: dict[str, float] = {}
        for fn in self._funcs:
            values = user_rewards.call(fn, prompts=prompts, completions=shaped, completion_ids=ids, trainer_state=None,
                                       log_extra=user_rewards._noop, log_metric=user_rewards._noop, **columns)
            present = [v for v in user_rewards.check_values(fn.__name__, values, n, prompts) if v is not None]
            out[fn.__name__] = sum(present) / len(present) if present else math.nan
        out["mean_length"] = sum(completion_lengths) / n
        return out


def _rekey(row: dict, key: str) -> dict:
    out = {k: v for k, v in row.items() if k != key}
    out["prompt"] = row[key]
    return out


@register("custom")
def build_custom(cfg: dict) -> CustomTask:
    return CustomTask(from_mapping(CustomConfig, cfg, "task"))
