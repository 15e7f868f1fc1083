"""Reward perturbation for the noisy-auxiliary ablation (the DVAO paper's open question: a noisy,
high-variance auxiliary reward gets up-weighted by variance-adaptive weights).

``task.noise`` (any LLM task)::

    noise:
      objective: length   # which objective's *training* reward is perturbed (null: none)
      std: 0.3            # additive Gaussian noise, N(0, std^2), per completion
      scale: 1.0          # multiplier before the noise: a miscalibrated scale (e.g. 3.0)
      seed: 0             # noise stream seed

Only the rewards the estimator sees change; held-out evaluation still scores the true objective,
so the Pareto axes measure what the policy really learned.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from workbench.tasks.base import RewardFn


@dataclass(frozen=True)
class NoiseSpec:
    objective: str | None = None
    std: float = 0.0
    scale: float = 1.0
    seed: int = 0

    @classmethod
    def parse(cls, node: dict[str, Any] | None, objectives: list[str]) -> "NoiseSpec":
        spec = cls(**(node or {}))
        if spec.objective is None:
            return spec
        if spec.objective not in objectives:
            raise ValueError(f"task.noise.objective={spec.objective!r} is not one of the task's objectives "
                             f"{objectives}; pick one of them or set it to null")
        if not spec.std >= 0:
            raise ValueError(f"task.noise.std={spec.std!r} must be >= 0")
        return spec

    @property
    def active(self) -> bool:
        return self.objective is not None and (self.std > 0 or self.scale != 1.0)


def perturb(fn: RewardFn, spec: NoiseSpec) -> RewardFn:
    """``fn`` with its rewards scaled and noised per ``spec``; None (missing) stays None."""
    rng = random.Random(spec.seed)

    def noisy(*args, **kwargs):
        return [None if r is None else spec.scale * r + rng.gauss(0.0, spec.std) for r in fn(*args, **kwargs)]

    noisy.__name__ = fn.__name__
    return noisy


class NoisyTask:
    """A task whose reward function for ``spec.objective`` is perturbed; everything else delegates."""

    def __init__(self, task, spec: NoiseSpec):
        self._task, self.spec = task, spec

    def __getattr__(self, name):
        return getattr(self._task, name)

    def reward_funcs(self) -> list[RewardFn]:
        return [perturb(fn, self.spec) if fn.__name__ == self.spec.objective else fn
                for fn in self._task.reward_funcs()]
