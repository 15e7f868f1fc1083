"""The estimator contract and the one registry every estimator goes through.

An estimator is a pure tensor function

    fn(rewards: Tensor (B, G, K), weights: Tensor (K,), *, std: str = "population",
       eps: float = ..., **options) -> AdvantageResult

B prompts, G completions per prompt, K objectives; NaN in ``rewards`` marks a missing reward.
No I/O, no logging: diagnostics are returned, the caller decides what to log.

State across steps (optional, explicit). An estimator registered with ``stateful=True`` also takes
``state=`` (None on the first step) and returns the next step's state in ``AdvantageResult.state``;
the caller keeps it and hands it back on the next call. The estimator never stores anything itself,
so a call is still a pure function of its arguments. ``is_stateful(name)`` tells a caller whether to
carry state (the LLM trainer and the bandit simulator both do; see docs/estimators.md).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol

import torch


@dataclass(frozen=True)
class AdvantageResult:
    """What every estimator returns.

    advantages: (B, G) advantage per completion; never NaN or inf.
    group_mean: (B, K) each objective's within-group mean (over present rewards).
    group_std:  (B, K) each objective's within-group std (same convention as the estimator used).
    weights:    (B, K) effective weight of each objective in each group: the static base weights
                broadcast for RC/AC/GDPO, the dynamic w~ for DVAO (0 where undefined).
    scorable:   (B, G) bool, False for a completion whose every reward is missing (its advantage
                is 0 and it entered no baseline); None when the producer does not say.
    diagnostics: estimator-specific 0-d tensors (e.g. a shrinkage weight, the kept fraction); empty
                for the paper's four. Not logged by default.
    state:      what a stateful estimator hands to its next call (None for every other estimator).
    """

    advantages: torch.Tensor
    group_mean: torch.Tensor
    group_std: torch.Tensor
    weights: torch.Tensor
    scorable: torch.Tensor | None = None
    diagnostics: Mapping[str, torch.Tensor] | None = None
    state: Mapping[str, torch.Tensor] | None = None


class Estimator(Protocol):
    def __call__(self, rewards: torch.Tensor, weights: torch.Tensor, **options) -> AdvantageResult: ...


_REGISTRY: dict[str, Callable[..., AdvantageResult]] = {}
_STATEFUL: set[str] = set()


def register(name: str, *, stateful: bool = False, inference_mode: bool = True):
    """Decorator adding an estimator under ``name``; a duplicate name is a programming error.

    stateful: the estimator takes ``state=`` and returns ``AdvantageResult.state`` (module docstring).
    inference_mode: run it without autograd bookkeeping (``without_autograd``); False for an estimator
        that does its work outside torch (rdpo), where the wrapper would only add copies.
    Registering one function under a second name makes an alias (``mo_grpo`` is ``ac``): the function
    the first registration returned is stored again as it is.
    """

    def wrap(fn):
        if name in _REGISTRY:
            raise ValueError(f"advantage estimator {name!r} is already registered")
        if inference_mode and not getattr(fn, "without_autograd", False):
            fn = without_autograd(fn)
        _REGISTRY[name] = fn
        if stateful:
            _STATEFUL.add(name)
        return fn

    return wrap


def without_autograd(fn: Callable[..., AdvantageResult]) -> Callable[..., AdvantageResult]:
    """Run an estimator under ``torch.inference_mode`` and hand back ordinary tensors.

    An estimator is a few dozen small tensor operations; on small batches their dispatch, not the
    arithmetic, is the cost, and inference mode skips autograd's share of it (~15%, bench/). Its
    tensors cannot be saved for backward or changed in place outside it, so the result's tensors
    are copied out (a handful of small copies). Rewards that require grad (Proposition 3's tests
    differentiate through the estimators) and a caller already in inference mode run fn as it is.
    """

    @functools.wraps(fn)
    def run(rewards, *args, **kwargs) -> AdvantageResult:
        if (isinstance(rewards, torch.Tensor) and rewards.requires_grad) or torch.is_inference_mode_enabled():
            return fn(rewards, *args, **kwargs)
        with torch.inference_mode():
            res = fn(rewards, *args, **kwargs)
        if not isinstance(res, AdvantageResult):  # a plug-in's mistake: returned as is, for the caller's check to name
            return res
        return AdvantageResult(
            advantages=res.advantages.clone(),
            group_mean=res.group_mean.clone(),
            group_std=res.group_std.clone(),
            weights=res.weights.clone(),
            scorable=None if res.scorable is None else res.scorable.clone(),
            diagnostics={key: value.clone() for key, value in (res.diagnostics or {}).items()},
            state=None if res.state is None else {key: value.clone() for key, value in res.state.items()},
        )

    run.without_autograd = True
    return run


def names() -> list[str]:
    """Registered estimator names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Callable[..., AdvantageResult]:
    """The estimator registered as ``name``; an unknown name raises listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown advantage estimator {name!r}; valid names: {', '.join(names())}") from None


def is_stateful(name: str) -> bool:
    """True when ``name``'s estimator takes ``state=`` and returns the next state (unknown names raise)."""
    get(name)
    return name in _STATEFUL
