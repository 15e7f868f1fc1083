"""One GRPO update on the bandit, vectorised over contexts and completions (no Python loop per sample).

Per step: the policy's logits for B contexts (B, N) -> G candidates sampled per context (B, G) ->
per-objective rewards (B, G, K) -> the registry estimator's advantages (B, G) -> the GRPO clipped
surrogate  -mean_{i,j} min(rho A, clip(rho, 1-eps, 1+eps) A),  rho = pi(a)/pi_old(a), with the sampling
policy as pi_old, over ``epochs`` inner passes (epoch 1 has rho = 1: the plain policy gradient).
Each completion is one "token", so GRPO's per-sequence and per-token averages coincide. No KL term
(TRL's default beta = 0).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from workbench.advantages.base import AdvantageResult


@dataclass(frozen=True)
class UpdateSettings:
    """Hyper-parameters of one update (conf/task/bandit.yaml keys of the same name)."""

    G: int = 16                      # completions per context
    clip: float = 0.2                # PPO/GRPO clipping range epsilon
    epochs: int = 1                  # inner passes over the same samples (ratios != 1 from the 2nd on)
    batch_contexts: int | None = None  # contexts per step; None = every context

    def __post_init__(self):
        if self.G < 2:
            raise ValueError(f"G={self.G}: a group needs at least 2 completions")
        if self.clip <= 0 or self.epochs < 1:
            raise ValueError(f"clip must be > 0 and epochs >= 1, got clip={self.clip}, epochs={self.epochs}")
        if self.batch_contexts is not None and self.batch_contexts < 1:
            raise ValueError("batch_contexts must be >= 1 or null (every context)")


@dataclass(frozen=True)
class StepOutput:
    """What one update saw: rewards (B, G, K), the estimator's result, the last epoch's loss."""

    rewards: torch.Tensor
    result: AdvantageResult
    loss: float
    estimator_seconds: float


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """adam (default) or sgd; an unknown name raises listing both."""
    if name == "adam":   # fused: one kernel instead of ~10 small ops per step (a third faster on CPU here)
        return torch.optim.Adam(params, lr=lr, fused=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"optimizer={name!r}: use adam or sgd")


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, clip: float) -> torch.Tensor:
    """GRPO's clipped objective as a loss to minimise; all inputs (B, G)."""
    ratio = torch.exp(logp - old_logp)
    return -torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv).mean()


def update(policy, optimizer, bandit, estimator, weights: torch.Tensor, settings: UpdateSettings,
           generator: torch.Generator, estimator_options: dict | None = None, objective_slice=None) -> StepOutput:
    """Sample, score and take ``settings.epochs`` optimiser steps; returns what the step saw.

    weights: (K',) base weights handed to the estimator. objective_slice: optional slice of the K objectives
    the estimator sees (single-objective GRPO uses the first); the returned rewards keep all K.
    """
    n_ctx = bandit.means.shape[0]
    if settings.batch_contexts is None or settings.batch_contexts >= n_ctx:
        contexts = None                                              # every context, no index op
    else:
        contexts = torch.randperm(n_ctx, generator=generator)[: settings.batch_contexts]
    logits = policy(contexts)                                        # (B, N)
    logp_all = torch.log_softmax(logits, dim=-1)
    with torch.no_grad():
        choices = torch.multinomial(logp_all.exp(), settings.G, replacement=True, generator=generator)
        old_logp = logp_all.gather(1, choices)                      # (B, G)
        rewards = bandit.sample(contexts, choices, generator)      # (B, G, K)
        seen = rewards if objective_slice is None else rewards[..., objective_slice]
        t0 = time.perf_counter()
        result = estimator(seen, weights, **(estimator_options or {}))
        est_s = time.perf_counter() - t0
        adv = result.advantages.to(logits.dtype)
    loss_value = 0.0
    for epoch in range(settings.epochs):
        if epoch > 0:
            logp_all = torch.log_softmax(policy(contexts), dim=-1)
        logp = logp_all.gather(1, choices)
        if epoch == 0:
            # pi == pi_old here, so every ratio is exactly 1 and inside the clip range: the surrogate's
            # gradient is that of -mean(A log pi) and its value is -mean(A). Skipping the ratio ops
            # saves ~10% of an update (tests/test_sim.py checks the gradient against the closed form).
            loss = -(adv * logp).mean()
            loss_value = float(-adv.mean())
        else:
            loss = clipped_surrogate(logp, old_logp, adv, settings.clip)
            loss_value = float(loss.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return StepOutput(rewards, result, loss_value, est_s)


@torch.no_grad()
def policy_value(policy, bandit, greedy: bool = False) -> torch.Tensor:
    """Expected true reward per objective of the policy, averaged over all contexts: (K,) float64.

    greedy=False: the sampling policy (a point of the achievable set); True: the argmax candidate.
    """
    logits = policy(torch.arange(bandit.means.shape[0])).double()
    if greedy:
        probs = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).double()
    else:
        probs = torch.softmax(logits, dim=-1)
    return torch.einsum("cn,cnk->k", probs, bandit.means) / bandit.means.shape[0]
