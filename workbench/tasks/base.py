"""The task contract: prompts, named reward functions (the objectives) and held-out metrics.

A reward function follows TRL's GRPOTrainer calling convention::

    fn(prompts: list[str], completions: list[str], completion_ids=None, **columns) -> list[float | None]

where ``columns`` are the dataset's other columns (one list entry per completion). ``None`` means
"no reward for this completion" and reaches the estimator as NaN. A reward function never raises on
odd model output (empty, unparsable, unicode, very long): it returns a score or None.
The function's ``__name__`` is the objective's name: TRL logs it, and so do we.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

RewardFn = Callable[..., list]


@dataclass(frozen=True)
class EvalAxis:
    """One Pareto axis reported by a task's evaluation (e.g. ``accuracy``, maximise)."""

    name: str
    maximise: bool = True


class Task(Protocol):
    """What the trainer, the sweeps and analysis need from a task."""

    name: str

    @property
    def objectives(self) -> list[str]:
        """Objective names in reward-function order; ``weights`` in the config follow this order."""

    def reward_funcs(self) -> list[RewardFn]:
        """One reward function per objective, in ``objectives`` order, each named after it."""

    def train_dataset(self):
        """A ``datasets.Dataset`` with a ``prompt`` column (str) plus the columns the rewards need."""

    def eval_dataset(self):
        """The held-out split, same columns as ``train_dataset``, disjoint prompts."""

    def evaluate(self, prompts: Sequence[str], completions: Sequence[str], rows: dict[str, list[Any]],
                 completion_lengths: Sequence[int]) -> dict[str, float]:
        """Held-out metrics over sampled completions: at least one value per ``eval_axes`` name."""

    @property
    def eval_axes(self) -> list[EvalAxis]:
        """The evaluation metrics analysis uses as Pareto axes (all in [0, 1], maximised by default)."""

    # Optional: ``use_tokenizer(tokenizer)``, called by workbench.models.build before the datasets are
    # read, for a task whose prompts depend on the policy's tokenizer (the tool task's BFCL source).
    # Optional: ``policy_metrics(model, rows, scores) -> dict[str, float]``, held-out metrics that need the
    # evaluated policy itself (math: ``front_distance`` to the front of the model's property record).


class WarmupSource(Protocol):
    """What a task offers the tiny model's builder (workbench/models/tiny.py); generated data only."""

    def warmup_examples(self, n: int, seed: int) -> list[tuple[str, str]]:
        """``n`` (prompt, completion) demonstrations from the training split, deterministic in ``seed``."""

    def vocab_texts(self) -> list[str]:
        """Texts whose characters the char-level tokenizer must cover."""

    def vocab_tokens(self) -> list[str]:
        """Multi-character strings kept as one token (tags, JSON glue)."""

    def warmup_key(self) -> dict:
        """Every task setting that changes the warm-up data: part of the tiny model's cache key."""

    def warmup_overrides(self) -> dict:
        """Task-specific changes to the model's ``warmup`` options (e.g. fewer steps), possibly empty."""

    # Optional: ``measure_policy(model, tokenizer, max_new_tokens) -> dict``, the warmed policy's property
    # record (math: per-difficulty form rates and per-form accuracies), stored with the cached model.
