"""What the LLM tasks share: held train/eval rows, objective order, reward functions from scorers."""
from __future__ import annotations

from dataclasses import asdict
from typing import Callable

from workbench.tasks.base import EvalAxis, RewardFn
from workbench.tasks.text import score_each


class SplitTask:
    """Base for tasks holding ``self._train`` / ``self._eval`` row lists and a ``cfg`` with
    ``name``, ``objectives`` and ``eval.n_prompts``. Subclasses implement ``_load`` and ``_scorers``."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.name = cfg.name
        self._train, self._eval = self._load()

    def _load(self) -> tuple[list[dict], list[dict]]:
        raise NotImplementedError

    def _scorers(self) -> dict[str, Callable[..., float | None]]:
        """Objective name -> ``score(text, ids, **row_columns)`` for one completion."""
        raise NotImplementedError

    def train_dataset(self):
        import datasets

        return datasets.Dataset.from_list(self._train)

    def eval_dataset(self):
        """The first ``eval.n_prompts`` held-out rows."""
        import datasets

        return datasets.Dataset.from_list(self._eval[: self.cfg.eval.n_prompts])

    @property
    def objectives(self) -> list[str]:
        return list(self.cfg.objectives)

    def reward_funcs(self) -> list[RewardFn]:
        scorers = self._scorers()
        return [score_each(name, scorers[name]) for name in self.objectives]

    @property
    def eval_axes(self) -> list[EvalAxis]:
        return [EvalAxis(name) for name in self.objectives]

    def sample_rows(self, n: int, seed: int, draws_per_row: int):
        """``n`` training rows drawn with replacement, each with its ``draws_per_row`` uniform numbers
        from the same stream (row, then its draws: the order every cached warm-up was built with)."""
        import random

        if self.cfg.data.source != "generated":
            raise ValueError(f"the tiny model's warm-up needs task.data.source=generated for task {self.name!r}; "
                             "with real data use a real model (model=qwen2.5-3b, qwen3-4b-base, ...)")
        rng = random.Random(seed)
        for _ in range(n):
            row = self._train[rng.randrange(len(self._train))]
            yield row, [rng.random() for _ in range(draws_per_row)]

    def warmup_overrides(self) -> dict:
        """Changes to the model's warm-up options: ``warmup.steps`` when set in the task's ``warmup`` options."""
        return {} if self.cfg.warmup.steps is None else {"steps": self.cfg.warmup.steps}

    def _mix(self) -> dict:
        """The warm-up demonstration mix (``steps`` excluded: the model's cache key holds the steps)."""
        return {k: v for k, v in asdict(self.cfg.warmup).items() if k != "steps"}
