"""TRL 1.16's own advantage code, lifted from the installed trl at run time: an oracle for tests and
the baseline for bench/bench_estimators.py. Not an estimator; nothing in training calls it.

TRL computes advantages inline in ``GRPOTrainer._generate_and_score_completions`` (no smaller hook).
``trl_advantages`` takes that method's source, cuts the block from ``unscorable_mask = ...`` to
``advantages = torch.nan_to_num(advantages, nan=0.0)`` verbatim, wraps it in a function and runs it
with the same names bound (``self`` carries the trainer attributes the block reads). If a trl
upgrade moves either anchor, this raises instead of silently comparing against nothing.
"""
from __future__ import annotations

import inspect
import textwrap
from functools import lru_cache
from types import SimpleNamespace
from typing import Callable

import torch

START = "unscorable_mask = torch.isnan(rewards_per_func)"
END = "advantages = torch.nan_to_num(advantages, nan=0.0)"
AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")


@lru_cache(maxsize=1)
def trl_block() -> Callable:
    """TRL's advantage block as ``fn(self, rewards_per_func, num_generations, device) -> (N,)``."""
    from trl import GRPOTrainer
    from trl.trainer.utils import nanstd

    lines = inspect.getsource(GRPOTrainer._generate_and_score_completions).splitlines()
    start = next((i for i, ln in enumerate(lines) if START in ln), None)
    end = next((i for i, ln in enumerate(lines) if END in ln), None)
    if start is None or end is None or end <= start:
        raise RuntimeError("TRL's advantage block was not found in GRPOTrainer._generate_and_score_completions; "
                           "this oracle is written against trl 1.16.")
    body = textwrap.indent(textwrap.dedent("\n".join(lines[start:end + 1])), "    ")
    src = "def trl_advantage_block(self, rewards_per_func, num_generations, device):\n" + body + \
        "\n    return advantages\n"
    scope: dict = {"torch": torch, "nanstd": nanstd}
    exec(compile(src, "<trl 1.16 GRPOTrainer advantage block>", "exec"), scope)
    return scope["trl_advantage_block"]


def trl_advantages(rewards: torch.Tensor, weights, aggregation: str = "normalize_then_sum",
                   scale_rewards: str = "group") -> torch.Tensor:
    """TRL 1.16's advantages for ``rewards`` (B, G, K) (NaN = a reward function returned None).

    aggregation: "sum_then_normalize" (RC) or "normalize_then_sum" (GDPO).
    scale_rewards: "group", "batch" or "none" (sum_then_normalize only, as in TRL).
    Returns (B, G).
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}; got {aggregation!r}")
    b, g, k = rewards.shape
    trainer = SimpleNamespace(
        multi_objective_aggregation=aggregation,
        scale_rewards=scale_rewards,
        reward_weights=torch.as_tensor(weights, dtype=torch.float32),
        reward_funcs=[None] * k,
    )
    adv = trl_block()(trainer, rewards.reshape(b * g, k), g, rewards.device)
    return adv.view(b, g)
