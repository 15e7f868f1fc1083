"""NaN-aware group statistics and input checks shared by every estimator.

Conventions (one place, so no estimator re-implements them):
- NaN marks a missing value. It is left out of the mean, the std and the count of its group.
- ``std="population"`` divides by n (the convention under which the DVAO paper's propositions hold);
  ``std="bessel"`` divides by n - 1 (TRL 1.16's ``nanstd``).
- A group is *constant* in an objective when it has fewer than two present values or all present
  values are exactly equal. Such a group carries no signal through that objective: its std is
  reported as 0 and its centred values and z-scores are exactly 0. Equality is tested on the raw
  values (max == min) rather than on the std, because the float mean of equal values such as 0.1
  is not exact and would otherwise leave a spurious 1e-9 deviation that ``/ (std + eps)`` inflates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .base import AdvantageResult

STD_CONVENTIONS = ("population", "bessel")
DEFAULT_EPS = 1e-6  # verl's GRPO epsilon; the DVAO paper trained with verl. TRL 1.16 uses 1e-4.


@dataclass(frozen=True)
class GroupStats:
    """Statistics of ``x`` (B, G, K) over its group dimension (dim 1), each kept as (B, 1, K).

    present:  (B, G, K) bool, True where x is not NaN.
    count:    (B, 1, K) number of present values (the int G when nothing is missing).
    mean:     (B, 1, K) mean of the present values (0 where none are present).
    std:      (B, 1, K) std of the present values (0 where the group is constant).
    centered: (B, G, K) x - mean, exactly 0 where x is missing or the group is constant.
    constant: (B, 1, K) bool, True where the group carries no signal (see the module docstring).
    """

    present: torch.Tensor
    count: torch.Tensor | int
    mean: torch.Tensor
    std: torch.Tensor
    centered: torch.Tensor
    constant: torch.Tensor

    def zscore(self, eps: float) -> torch.Tensor:
        """(x - mean) / (std + eps), shape (B, G, K); exactly 0 where missing or constant.

        With eps = 0 a constant group would divide 0 by 0, so its std is replaced by 1 first.
        """
        return self.centered / self.denominator(eps)

    def weighted_zsum(self, w: torch.Tensor, eps: float) -> torch.Tensor:
        """sum_k w[k] zscore[..., k] as (B, G), computed as one batched matmul (AC's combination)."""
        per_group_w = w / self.denominator(eps)                   # (B, 1, K)
        return torch.bmm(self.centered, per_group_w.transpose(1, 2)).squeeze(-1)

    def denominator(self, eps: float) -> torch.Tensor:
        """std + eps, (B, 1, K), with a constant group's std read as 1 (its centred values are 0)."""
        return torch.where(self.constant, 1.0, self.std) + eps


def group_stats(x: torch.Tensor, std: str = "population") -> GroupStats:
    """NaN-aware statistics of ``x`` (B, G, K) within each group (over dim 1).

    Differentiable with respect to the present values (Proposition 3's tests rely on it).
    A batch with nothing missing takes a shorter path (no masking), since that is the common case.
    """
    present = ~torch.isnan(x)
    if bool(present.all()):
        count = x.shape[1]
        mean = x.mean(dim=1, keepdim=True)
        lo, hi = torch.aminmax(x, dim=1, keepdim=True)
        constant = hi <= lo
        centered = torch.where(constant, 0.0, x - mean)
    else:
        count = present.sum(dim=1, keepdim=True)
        mean = torch.where(present, x, 0.0).sum(dim=1, keepdim=True) / count.clamp_min(1)
        hi = torch.where(present, x, -math.inf).amax(dim=1, keepdim=True)
        lo = torch.where(present, x, math.inf).amin(dim=1, keepdim=True)
        constant = hi <= lo  # also True for 0 present (-inf <= inf) and 1 present (equal)
        centered = torch.where(present & ~constant, x - mean, 0.0)
    ddof = 0 if std == "population" else 1
    if isinstance(count, int):
        var = centered.pow(2).sum(dim=1, keepdim=True) / (count - ddof)
    else:
        var = centered.pow(2).sum(dim=1, keepdim=True) / (count - ddof).clamp_min(1)
    if x.requires_grad:  # sqrt's derivative is infinite at 0: keep constant groups out of it
        sd = torch.where(constant, 0.0, torch.where(constant, 1.0, var).sqrt())
    else:  # var is exactly 0 where constant (its centred values are 0)
        sd = var.sqrt()
    return GroupStats(present, count, mean, sd, centered, constant)


def batch_stats(a: torch.Tensor, keep: torch.Tensor, std: str) -> GroupStats:
    """Statistics of ``a`` (B, G) over every entry of the batch where ``keep`` (B, G) is True.

    The result's tensors have shape (1, B*G, 1) / (1, 1, 1): the whole batch is one group.
    GDPO's batch step and RC's ``scale="batch"`` use it.
    """
    flat = torch.where(keep, a, math.nan).reshape(1, -1, 1)
    return group_stats(flat, std)


def check_inputs(rewards: torch.Tensor, weights, std: str, eps: float) -> torch.Tensor:
    """Validate an estimator's inputs before any computation; return weights as a (K,) tensor.

    Raises ValueError saying how to fix: rewards not a floating (B, G, K) tensor, G < 2, inf in
    rewards, weights of the wrong length, negative, non-finite or all zero, unknown std, bad eps.
    """
    if not isinstance(rewards, torch.Tensor):
        raise ValueError(f"rewards must be a torch.Tensor of shape (B, G, K); got {type(rewards).__name__}. "
                         "Wrap it with torch.tensor(..., dtype=torch.float32).")
    if rewards.dim() != 3:
        raise ValueError(f"rewards must have shape (B, G, K) (prompts, completions per prompt, objectives); "
                         f"got {tuple(rewards.shape)}. For one objective use rewards.unsqueeze(-1); "
                         "for a flat (B*G, K) tensor use rewards.view(B, G, K).")
    if not rewards.is_floating_point():
        raise ValueError(f"rewards must be a floating tensor (NaN marks a missing reward); got {rewards.dtype}. "
                         "Convert with rewards.float().")
    b, g, k = rewards.shape
    if g < 2:
        raise ValueError(f"group size G = {g}: group-relative advantages need at least 2 completions per prompt. "
                         "Sample G >= 2 completions for each prompt.")
    if torch.isinf(rewards).any():
        raise ValueError("rewards contain inf; clip them to a finite range, or use NaN to mark a missing reward.")
    if std not in STD_CONVENTIONS:
        raise ValueError(f"std must be one of {STD_CONVENTIONS}; got {std!r}.")
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite float >= 0; got {eps!r}.")
    return _as_weight_tensor(weights, k).to(device=rewards.device, dtype=rewards.dtype)


def _as_weight_tensor(weights: torch.Tensor | Sequence[float], k: int) -> torch.Tensor:
    w = torch.as_tensor(weights, dtype=torch.float64)
    if w.dim() != 1 or w.numel() != k:
        raise ValueError(f"weights must be a 1-D sequence of K = {k} floats, one per objective in reward order; "
                         f"got shape {tuple(w.shape)}. Pass e.g. [1/{k}] * {k} for equal weights.")
    vals = w.tolist()  # K is small: checking in Python avoids a handful of tensor ops per call
    if not all(map(math.isfinite, vals)):
        raise ValueError(f"weights must be finite; got {vals}.")
    if any(v < 0 for v in vals):
        raise ValueError(f"weights must be >= 0; got {vals}. Drop an objective with weight 0 instead.")
    if not any(v > 0 for v in vals):
        raise ValueError(f"weights are all zero; give at least one objective a positive weight (got {vals}).")
    return w


def static_weights(w: torch.Tensor, b: int) -> torch.Tensor:
    """The base weights (K,) as the (B, K) effective-weight diagnostic of a static-weight estimator."""
    return w.unsqueeze(0).expand(b, -1)


def make_result(advantages: torch.Tensor, per_objective: GroupStats, weights: torch.Tensor,
                scorable: torch.Tensor | None = None) -> AdvantageResult:
    """Pack an estimator's output: advantages (B, G), the per-objective stats of the rewards and the
    effective weights (B, K); scorable (B, G) defaults to "some reward present"."""
    if scorable is None:
        scorable = per_objective.present.any(dim=-1)
    return AdvantageResult(
        advantages=advantages,
        group_mean=per_objective.mean.squeeze(1),
        group_std=per_objective.std.squeeze(1),
        weights=weights,
        scorable=scorable,
    )
