"""NaN-aware group statistics and input checks shared by every estimator.

Conventions (one place, so no estimator re-implements them):
- NaN marks a missing value. It is left out of the mean, the std and the count of its group.
- ``std="population"`` divides by n (the convention under which the DVAO paper's propositions hold);
  ``std="bessel"`` divides by n - 1 (TRL 1.16's ``nanstd``).
- A group is *constant* in an objective when it has fewer than two present values or all present
  values are exactly equal. Such a group carries no signal through that objective: its std is
  reported as 0 and its centred values and z-scores are exactly 0.
- The mean is the corrected two-pass mean m0 + sum(x - m0) / n (m0 the plain mean). It equals the
  common value exactly when all values are equal (0.1 repeated has an inexact plain float mean,
  whose 1e-9 residue ``/ (std + eps)`` would inflate into a spurious signal), so a group is
  constant exactly when its centred values are all 0, i.e. when its sum of squares is 0.

Speed notes (CPU, measured here): reductions that are sums and float arithmetic are vectorised;
amax/amin along the group dim, bool masks and comparisons on (B, G, K) tensors are 5-10x slower.
Hence the missing-value mask is built in floats and nothing is min/max-reduced.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .base import AdvantageResult

STD_CONVENTIONS = ("population", "bessel")
INF_MESSAGE = ("rewards contain inf (or values so large their sum overflows); clip them to a finite range, "
               "or use NaN to mark a missing reward.")
DEFAULT_EPS = 1e-6  # verl's GRPO epsilon; the DVAO paper trained with verl. TRL 1.16 uses 1e-4.


@dataclass(frozen=True)
class GroupStats:
    """Statistics of ``x`` (B, G, K) over its group dimension (dim 1), each kept as (B, 1, K).

    present:  (B, G, K) float mask, 1 where x is present and 0 where NaN; None when nothing is missing.
    count:    (B, 1, K) number of present values (the int G when nothing is missing).
    mean:     (B, 1, K) mean of the present values (0 where none are present).
    std:      (B, 1, K) std of the present values (0 where the group is constant).
    centered: (B, G, K) x - mean, exactly 0 where x is missing or the group is constant.
    constant: (B, 1, K) bool, True where the group carries no signal (see the module docstring).
    filled:   (B, G, K) x with NaN replaced by 0 (x itself when nothing is missing).
    """

    present: torch.Tensor | None
    count: torch.Tensor | int
    mean: torch.Tensor
    std: torch.Tensor
    centered: torch.Tensor
    constant: torch.Tensor
    filled: torch.Tensor

    def zscore(self, eps: float) -> torch.Tensor:
        """(x - mean) / (std + eps), shape (B, G, K); exactly 0 where missing or constant."""
        return self.centered / self.denominator(eps)

    def weighted_zsum(self, w: torch.Tensor, eps: float) -> torch.Tensor:
        """sum_k w[k] zscore[..., k] as (B, G), computed as one batched matmul (AC's combination)."""
        per_group_w = w / self.denominator(eps)                   # (B, 1, K)
        return torch.bmm(self.centered, per_group_w.transpose(1, 2)).squeeze(-1)

    def denominator(self, eps: float) -> torch.Tensor:
        """std + eps, (B, 1, K), with a constant group's std read as 1 (its centred values are 0),
        so that eps = 0 never divides 0 by 0."""
        return self.std.masked_fill(self.constant, 1.0) + eps

    def scorable(self) -> torch.Tensor:
        """(B, G) bool: True where at least one of the K values is present."""
        b, g, k = self.filled.shape
        if self.present is None:
            return torch.ones(b, g, dtype=torch.bool, device=self.filled.device)
        return (self.present @ self.present.new_ones(k)) > 0


def group_stats(x: torch.Tensor, std: str = "population") -> GroupStats:
    """NaN-aware statistics of ``x`` (B, G, K) within each group (over dim 1).

    Raises ValueError if x holds inf. Differentiable with respect to the present values
    (Proposition 3's tests rely on it). A batch with nothing missing skips all masking.
    """
    if math.isfinite(x.detach().sum().item()):  # nothing missing (and no inf)
        present, count, filled = None, x.shape[1], x
        m0 = x.mean(dim=1, keepdim=True)
        mean = m0 + (x - m0).sum(dim=1, keepdim=True) / count
        centered = x - mean
    else:
        if not bool(torch.isfinite(x.detach().nansum())):
            raise ValueError(INF_MESSAGE)
        # a 1 / 0 mask built in floats (see module notes); in-place ops on temporaries save allocations
        present = x.detach().mul(0.0).add_(1.0).nan_to_num_(nan=0.0)
        filled = x.nan_to_num(nan=0.0)
        count = present.sum(dim=1, keepdim=True)
        n = count.clamp_min(1.0)
        m0 = filled.sum(dim=1, keepdim=True) / n
        mean = m0 + (filled - m0).mul_(present).sum(dim=1, keepdim=True) / n
        centered = (filled - mean).mul_(present)
    sq = centered.pow(2).sum(dim=1, keepdim=True)
    constant = sq == 0
    ddof = 0 if std == "population" else 1
    if isinstance(count, torch.Tensor):
        constant = constant | (count < 2)
        var = sq / (count - ddof).clamp_min(1.0)
    else:
        var = sq / (count - ddof)
    if x.requires_grad:  # sqrt's derivative is infinite at 0: keep constant groups out of it
        sd = var.masked_fill(constant, 1.0).sqrt().masked_fill(constant, 0.0)
    else:  # var is exactly 0 where constant (its centred values are exactly 0)
        sd = var.sqrt()
    return GroupStats(present, count, mean, sd, centered, constant, filled)


@dataclass(frozen=True)
class ColumnStats:
    """``group_stats`` for numpy columns (estimators whose work is in numpy, e.g. rdpo's ranks).

    x is (G, R): each column one group of G values, NaN missing. Same conventions as GroupStats: NaN
    left out, two-pass mean, constant = fewer than 2 present values or a zero sum of squares (then the
    std is 0 and the centred values are exactly 0). Reductions run down the columns, which numpy
    vectorises across all R groups at once.

    present: (G, R) float 1/0, None when nothing is missing; count: (R,) present values (int G if none
    missing); mean, std: (R,); centered, filled: (G, R); constant: (R,) bool.
    """

    present: np.ndarray | None
    count: np.ndarray | int
    mean: np.ndarray
    std: np.ndarray
    centered: np.ndarray
    constant: np.ndarray
    filled: np.ndarray


def column_stats(x: np.ndarray, std: str = "population") -> ColumnStats:
    """NaN-aware statistics of each column of ``x`` (G, R); raises ValueError on inf, as group_stats."""
    total = x.sum()
    if np.isfinite(total):
        present, count, filled = None, x.shape[0], x
        m0 = x.mean(0)
        mean = m0 + (x - m0).sum(0) / count
        centered = x - mean
    else:
        missing = np.isnan(x)
        filled = np.where(missing, x.dtype.type(0), x)
        if not np.isfinite(filled.sum()):
            raise ValueError(INF_MESSAGE)
        present = (~missing).astype(x.dtype)
        count = present.sum(0)
        n = np.maximum(count, 1)
        m0 = filled.sum(0) / n
        mean = m0 + ((filled - m0) * present).sum(0) / n
        centered = (filled - mean) * present
    sq = (centered * centered).sum(0)
    ddof = 0 if std == "population" else 1
    constant = (sq == 0) | (np.asarray(count) < 2)
    return ColumnStats(present, count, mean, np.sqrt(sq / np.maximum(np.asarray(count) - ddof, 1)),
                       centered, constant, filled)


def batch_stats(a: torch.Tensor, keep: torch.Tensor | None, std: str) -> GroupStats:
    """Statistics of ``a`` (B, G) over every entry of the batch where ``keep`` (B, G) is True
    (None: every entry).

    The result's tensors have shape (1, B*G, 1) / (1, 1, 1): the whole batch is one group.
    GDPO's batch step and RC's ``scale="batch"`` use it.
    """
    flat = (a if keep is None else a.masked_fill(~keep, math.nan)).reshape(1, -1, 1)
    return group_stats(flat, std)


def check_inputs(rewards: torch.Tensor, weights, std: str, eps: float) -> torch.Tensor:
    """Validate an estimator's inputs before any computation; return weights as a (K,) tensor.

    Raises ValueError saying how to fix: rewards not a floating (B, G, K) tensor, G < 2, weights of
    the wrong length, negative, non-finite or all zero, unknown std, bad eps. inf in rewards is
    refused by ``group_stats`` (it computes every group's extremes anyway; a separate scan would
    cost three more passes over the batch), before anything is returned.
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
                scorable: torch.Tensor | None = None, diagnostics: dict | None = None,
                state: dict | None = None) -> AdvantageResult:
    """Pack an estimator's output: advantages (B, G), the per-objective stats of the rewards and the
    effective weights (B, K); scorable (B, G) defaults to "some reward present"."""
    if scorable is None:
        scorable = per_objective.scorable()
    return AdvantageResult(
        advantages=advantages,
        group_mean=per_objective.mean.squeeze(1),
        group_std=per_objective.std.squeeze(1),
        weights=weights,
        scorable=scorable,
        diagnostics=diagnostics or {},
        state=state,
    )
