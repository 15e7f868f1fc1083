"""TRL 1.16 as an oracle for ``rc``, ``grpo_nostd`` and ``gdpo``.

TRL's side is TRL's own code: workbench.advantages.trl_reference cuts the advantage block out of
the installed ``GRPOTrainer._generate_and_score_completions`` source (from ``unscorable_mask = ...``
to ``advantages = torch.nan_to_num(...)``), runs it verbatim with the trainer attributes it reads
(aggregation, scale_rewards, reward_weights, reward_funcs) and ``trl.trainer.utils.nanstd``.
That block is isolated (it only reads ``rewards_per_func``), so no trainer or model is needed here.

With TRL's conventions (Bessel std, eps 1e-4) ours must match to 1e-5 on random float32 tensors,
including unscorable completions, partially missing rows, single present values, constant objectives
and all-missing groups. One deliberate difference: a constant objective whose float mean is inexact
(0.1 repeated) leaks (r - mean) / 1e-4, up to ~1e-4, into TRL's GDPO advantages; ours gives it exactly
no signal (the issue's rule). The match tests plant an exactly representable constant (0.5) and
``test_constant_objective_leaks_float_noise_in_trl_only`` pins the difference.
"""
from __future__ import annotations

import pytest
import torch

from tests.test_advantages_loop import random_rewards
from workbench.advantages import get
from workbench.advantages.trl_reference import trl_advantages, trl_block

TRL = {"std": "bessel", "eps": 1e-4}
PAIRS = [
    ("rc", {}, "sum_then_normalize", "group"),
    ("rc", {"scale": "batch"}, "sum_then_normalize", "batch"),
    ("grpo_nostd", {}, "sum_then_normalize", "none"),
    ("gdpo", {}, "normalize_then_sum", "group"),
]
SHAPES = [(1, 2, 2), (4, 2, 3), (8, 16, 2), (6, 5, 1), (32, 8, 4), (64, 16, 8), (16, 64, 3)]


def test_the_oracle_is_trls_own_source():
    code = trl_block().__code__
    assert code.co_filename.startswith("<trl 1.16")
    assert {"nanstd", "multi_objective_aggregation", "scale_rewards", "reward_weights"} <= set(code.co_names)


@pytest.mark.parametrize("name,opt,aggregation,scale", PAIRS, ids=[f"{p[0]}-{p[3]}" for p in PAIRS])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
@pytest.mark.parametrize("binary", [False, True], ids=["continuous", "binary"])
def test_matches_trl(name, opt, aggregation, scale, shape, binary):
    for seed in range(3):
        rewards = random_rewards(seed, *shape, binary=binary, missing=0.2 * (seed > 0), dtype=torch.float32,
                                 constant=0.5)
        gen = torch.Generator().manual_seed(seed)
        w = (torch.rand(shape[-1], generator=gen) * 2 + 0.01).tolist()
        expected = trl_advantages(rewards, w, aggregation, scale)
        got = get(name)(rewards, w, **TRL, **opt).advantages
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_our_default_differs_from_trl_as_documented():
    """The defaults (population std, eps 1e-6) are not TRL's: the oracle test is not vacuous."""
    rewards = torch.rand(8, 16, 2, generator=torch.Generator().manual_seed(0))
    expected = trl_advantages(rewards, [1.0, 1.0], "sum_then_normalize")
    got = get("rc")(rewards, [1.0, 1.0]).advantages
    assert (got - expected).abs().max() > 1e-3
    torch.testing.assert_close(got * (15 / 16) ** 0.5, expected, atol=1e-3, rtol=1e-3)


def test_constant_objective_leaks_float_noise_in_trl_only():
    """Group 0's third objective is constant at 0.1; torch's float32 mean of seven 0.1s is off by
    7e-9, which TRL divides by (std + 1e-4) and hands to group 0 as a spurious shift."""
    rewards = torch.rand(32, 7, 3, generator=torch.Generator().manual_seed(5))
    rewards[0, :, 2] = 0.1
    w = [1.0, 1.0, 2.0]
    gap = get("gdpo")(rewards, w, **TRL).advantages - trl_advantages(rewards, w, "normalize_then_sum")
    assert gap[0].abs().max() > 1e-5
    ours_ac = get("ac")(rewards[:1], w, **TRL).advantages
    torch.testing.assert_close(ours_ac, get("ac")(rewards[:1, :, :2], w[:2], **TRL).advantages, atol=1e-7, rtol=0)
