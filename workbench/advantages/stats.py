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
  constant exactly when its centred values are all 0, i.e. when its sum of squares is 0 (a group
  with fewer than two present values has exactly 0 centred values too, so ``sumsq == 0`` covers it).

Speed notes (CPU, measured here): reductions that are sums and float arithmetic are vectorised;
amax/amin along the group dim, bool masks and comparisons on (B, G, K) tensors are 5-10x slower, and
masked_fill on a large tensor 20x. Hence the missing-value mask is built in floats, nothing is
min/max-reduced, and statistics computed once (the sum of squares, the variance, the per-completion
present count) are kept on GroupStats for the estimators that need them again. On small batches the
cost is the number of tensor operations (2-4 us each), so every estimator keeps that count low.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Sequence

import numpy as np
import torch

from .base import AdvantageResult

STD_CONVENTIONS = ("population", "bessel")
INF_MESSAGE = ("rewards contain inf (or values so large their sum overflows); clip them to a finite range, "
               "or use NaN to mark a missing reward.")
DEFAULT_EPS = 1e-6  # verl's GRPO epsilon (verl divides by a Bessel std; the population default here is the
                    # convention of the DVAO paper's propositions). TRL 1.16 uses 1e-4: see CONVENTIONS.
# ``convention=`` presets of the estimators that have a TRL counterpart (rc, grpo_nostd, gdpo): "trl" is TRL 1.16's
# GRPOTrainer (trl.trainer.utils.nanstd is Bessel-corrected; `+ 1e-4` in _generate_and_score_completions), so
# its advantages equal TRL's to float precision (tests/test_advantages_trl.py); "workbench" is the defaults.
CONVENTIONS = {"workbench": {}, "trl": {"std": "bessel", "eps": 1e-4}}
SMALL = 8192  # numel below which op count, not passes over memory, sets the cost (measured crossover ~4-16K)


def scalar(value: float, like: torch.Tensor) -> torch.Tensor:
    """``value`` as a cached 0-d tensor for arithmetic with ``like``.

    A Python number in a tensor op is wrapped in a fresh 0-d tensor on every call (~1.4 us here, half
    of a small op's cost); a cached 0-d tensor is a dict lookup (~0.2 us). The result is bitwise the
    same: the op casts the number to its compute type either way (float32 or float64; half types
    compute in float32, so their constants are kept in float32).
    """
    dtype = like.dtype if like.dtype in (torch.float32, torch.float64) else torch.float32
    return _scalar(float(value), dtype, like.device)


@lru_cache(maxsize=256)
def _scalar(value: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False):   # an ordinary tensor: usable when the rewards require grad
        return torch.tensor(value, dtype=dtype, device=device)


@dataclass(frozen=True)
class GroupStats:
    """Statistics of ``x`` (B, G, K) over its group dimension (dim 1), each kept as (B, 1, K).

    present:  (B, G, K) float mask, 1 where x is present and 0 where NaN; None when nothing is missing.
    count:    (B, 1, K) number of present values (the int G when nothing is missing).
    mean:     (B, 1, K) mean of the present values (0 where none are present).
    centered: (B, G, K) x - mean, exactly 0 where x is missing or the group is constant.
    filled:   (B, G, K) x with NaN replaced by 0 (x itself when nothing is missing).
    sumsq:    (B, 1, K) sum of the squared centred values; var: (B, 1, K) the variance.
    std:      (B, 1, K) std of the present values (0 where the group is constant); computed on first use.
    constant: (B, 1, K) bool, True where the group carries no signal (module docstring); on first use.
    """

    present: torch.Tensor | None
    count: torch.Tensor | int
    mean: torch.Tensor
    centered: torch.Tensor
    filled: torch.Tensor
    sumsq: torch.Tensor
    var: torch.Tensor

    @cached_property
    def constant(self) -> torch.Tensor:
        return self.sumsq == scalar(0, self.sumsq)   # also where < 2 values are present (centred values 0)

    @cached_property
    def std(self) -> torch.Tensor:
        if self.filled.requires_grad:  # sqrt's derivative is infinite at 0: keep constant groups out of it
            return self.var.masked_fill(self.constant, 1.0).sqrt().masked_fill(self.constant, 0.0)
        return self.var.sqrt()         # var is exactly 0 where constant (its centred values are exactly 0)

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
        return self.std + self.constant + scalar(eps, self.var)      # + True is + 1 where std is 0

    @cached_property
    def present_rows(self) -> torch.Tensor | None:
        """(B, G) float: how many of the K values of each completion are present; None if none is missing."""
        return None if self.present is None else self.present.sum(-1)

    def scorable(self) -> torch.Tensor:
        """(B, G) bool: True where at least one of the K values is present."""
        if self.present is None:
            b, g, _ = self.filled.shape
            return torch.ones(b, g, dtype=torch.bool, device=self.filled.device)
        return self.present_rows > 0

    def scorable_mask(self) -> torch.Tensor | None:
        """(B, G) float 1/0 of ``scorable()`` (counts are whole numbers, so clamping at 1 is the mask);
        None when nothing is missing."""
        return None if self.present is None else self.present_rows.clamp_max(1.0)


def group_stats(x: torch.Tensor, std: str = "population") -> GroupStats:
    """NaN-aware statistics of ``x`` (B, G, K) within each group (over dim 1).

    Raises ValueError if x holds inf. Differentiable with respect to the present values
    (Proposition 3's tests rely on it). A batch with nothing missing skips all masking.
    """
    if math.isfinite(x.sum().item()):  # nothing missing (and no inf)
        return complete_stats(x, std)
    # a 1 / 0 float mask: from a comparison on small batches (2 ops), in float arithmetic on large ones
    # (bool tensors are slow there). An inf is kept in ``filled``, which makes its group's mean
    # non-finite: the check below catches it with one reduction of a (B, 1, K) tensor
    if x.numel() < SMALL:
        present = (x == x).to(dtype=x.dtype)              # NaN != NaN (the keyword parses faster)
    else:
        present = x.detach().mul(0.0).add_(1.0).nan_to_num_(nan=0.0)   # inf * 0 is NaN too: masked, still caught
    st = masked_stats(x.nan_to_num(0.0, math.inf, -math.inf), present, std)   # NaN -> 0, inf kept
    if not math.isfinite(st.mean.sum().item()):
        raise ValueError(INF_MESSAGE)
    return st


def complete_stats(x: torch.Tensor, std: str) -> GroupStats:
    """``group_stats`` of an x (B, G, K) known to hold no NaN or inf."""
    g = x.shape[1]
    n = scalar(g, x)
    m0 = x.sum(1, True) / n                       # x.mean on the CPU, bit for bit (sum, then divide)
    scratch = x - m0
    mean = m0 + scratch.sum(1, True) / n
    return _finish(None, g, n, mean, _minus(x, mean, scratch), x, std)


def masked_stats(filled: torch.Tensor, present: torch.Tensor, std: str) -> GroupStats:
    """``group_stats`` from filled (B, G, K) (missing values 0) and its float 1/0 ``present`` mask."""
    count = present.sum(1, True)
    n = count.clamp_min(1.0)
    m0 = filled.sum(1, True) / n
    scratch = (filled - m0).mul_(present)
    mean = m0 + scratch.sum(1, True) / n
    return _finish(present, count, n, mean, _minus(filled, mean, scratch).mul_(present), filled, std)


def _minus(x: torch.Tensor, mean: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """x - mean, written into ``scratch`` (a spent temporary of x's shape) unless autograd needs the op:
    on a large batch a fresh array costs its page faults, ~0.4 ms per 2 MB here."""
    if x.requires_grad:
        return x - mean
    return torch.sub(x, mean, out=scratch)


def _finish(present, count, n, mean, centered, filled, std) -> GroupStats:
    """n: the count clamped at 1 (a tensor), or the cached 0-d G when nothing is missing."""
    sumsq = (centered * centered).sum(1, True)
    if std == "population":
        var = sumsq / n
    elif isinstance(count, torch.Tensor):
        var = sumsq / (count - scalar(1, count)).clamp_min(1.0)
    else:
        var = sumsq / scalar(count - 1, sumsq)
    return GroupStats(present, count, mean, centered, filled, sumsq, var)


def flat_moments(a: torch.Tensor, keep: torch.Tensor | None, std: str,
                 count: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred values and denominator base of ``a`` (any shape, finite) over the whole batch, counting only
    the entries where the float 1/0 ``keep`` (same shape) is 1, or every entry when keep is None.

    The float steps of ``group_stats`` with the batch as one group (two-pass mean; centred values 0
    where not kept). Returns (centred, std): same shape as a, and a 0-d std read as 1 where the kept
    values are constant (their centred values are exactly 0), so ``centred / (std + eps)`` is safe.
    GDPO's batch step, GD2PO's whitening and RC's ``scale="batch"`` use it. ``count``: keep.sum(), if the
    caller has it already.
    """
    if keep is None:
        n = scalar(a.numel(), a)
        m0 = a.sum() / n                              # a.mean() on the CPU, bit for bit
        centred = a - (m0 + (a - m0).sum() / n)
    else:
        count = keep.sum() if count is None else count
        n = count.clamp_min(1.0)
        m0 = (a * keep).sum() / n
        centred = (a - (m0 + (a - m0).mul_(keep).sum() / n)).mul_(keep)
    sumsq = (centred * centred).sum()
    if std == "population":
        var = sumsq / n
    elif keep is None:
        var = sumsq / scalar(a.numel() - 1, a)
    else:
        var = sumsq / (count - scalar(1, count)).clamp_min(1.0)
    return centred, var.sqrt() + (sumsq == scalar(0, sumsq))    # + True is + 1 where the std is 0


def flat_zscore(a: torch.Tensor, keep: torch.Tensor | None, std: str, eps: float,
                count: torch.Tensor | None = None) -> torch.Tensor:
    """The batch-wide z-score of ``a`` over the kept entries (``flat_moments``); exactly 0 where not kept."""
    centred, sd = flat_moments(a, keep, std, count)
    return centred / (sd + scalar(eps, sd))


@dataclass(frozen=True)
class ColumnStats:
    """``group_stats`` for numpy columns (estimators whose work is in numpy, e.g. rdpo's ranks).

    Each column of a (G, R) array is one group of G values. Same conventions as GroupStats: missing
    values left out, two-pass mean, constant = fewer than 2 present values or a zero sum of squares
    (then the std is 0). count: (R,) present values (the int G when nothing is missing); mean, var,
    std: (R,); constant: (R,) bool.
    """

    count: np.ndarray | int
    mean: np.ndarray
    var: np.ndarray
    std: np.ndarray
    constant: np.ndarray


def column_stats(filled: np.ndarray, present: np.ndarray | None, std: str = "population",
                 scratch: np.ndarray | None = None) -> ColumnStats:
    """Statistics of each column of ``filled`` (G, R): the values with every missing one replaced by 0;
    present: (G, R) bool, None when nothing is missing. Raises ValueError on inf, as group_stats.

    scratch: a (G, R) array of filled's dtype to hold the centred values (the caller's, to reuse it
    afterwards: on a large batch each fresh array costs its page faults, ~0.4 ms per 2 MB here)."""
    g = filled.shape[0]
    buf = np.empty_like(filled) if scratch is None else scratch
    count, n = (g, g) if present is None else (present.sum(0, dtype=filled.dtype),) * 2
    if present is not None:
        n = np.maximum(count, 1)
    with np.errstate(invalid="ignore", over="ignore"):         # an inf: refused just below
        m0 = filled.sum(0) / n
        finite = np.isfinite(m0.sum())
    if not finite:
        raise ValueError(INF_MESSAGE)
    np.subtract(filled, m0, out=buf)
    if present is not None:
        buf *= present
    mean = m0 + buf.sum(0) / n
    np.subtract(filled, mean, out=buf)
    if present is not None:
        buf *= present
    np.multiply(buf, buf, out=buf)
    sq = buf.sum(0)
    var = sq / (n if std == "population" else np.maximum(np.asarray(count) - 1, 1))
    return ColumnStats(count, mean, var, np.sqrt(var), sq == 0)   # < 2 values present: sq is 0 too


def check_inputs(rewards: torch.Tensor, weights, std: str, eps: float) -> torch.Tensor:
    """Validate an estimator's inputs before any computation; return weights as a (K,) tensor.

    Raises ValueError saying how to fix: rewards not a floating (B, G, K) tensor, G < 2, weights of
    the wrong length, negative, non-finite or all zero, unknown std, bad eps. inf in rewards is
    refused by ``group_stats`` (it sums the batch anyway; a separate scan would cost more passes),
    before anything is returned.
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
    return _as_weight_tensor(weights, k, rewards)


_NUMPY_FLOATS = {torch.float32: np.float32, torch.float64: np.float64}


def _as_weight_tensor(weights: torch.Tensor | Sequence[float], k: int, like: torch.Tensor) -> torch.Tensor:
    """weights as a (K,) tensor of like's dtype and device, checked in Python (K is small: a handful of
    tensor ops saved per call). A 1-D tensor or a flat list of Python numbers takes one conversion;
    anything else goes through torch.as_tensor, which also names the shape of a nested list."""
    if isinstance(weights, torch.Tensor) and weights.dim() == 1:
        vals, shape = weights.tolist(), tuple(weights.shape)
    elif isinstance(weights, (list, tuple)) and all(type(v) in (float, int, bool) for v in weights):
        vals, shape = [float(v) for v in weights], (len(weights),)
    else:
        w = torch.as_tensor(weights, dtype=torch.float64)
        vals, shape = (w.tolist() if w.dim() == 1 else None), tuple(w.shape)
    if vals is None or len(vals) != k:
        raise ValueError(f"weights must be a 1-D sequence of K = {k} floats, one per objective in reward order; "
                         f"got shape {shape}. Pass e.g. [1/{k}] * {k} for equal weights.")
    if not all(map(math.isfinite, vals)):
        raise ValueError(f"weights must be finite; got {vals}.")
    if any(v < 0 for v in vals):
        raise ValueError(f"weights must be >= 0; got {vals}. Drop an objective with weight 0 instead.")
    if not any(v > 0 for v in vals):
        raise ValueError(f"weights are all zero; give at least one objective a positive weight (got {vals}).")
    if isinstance(weights, torch.Tensor):
        return weights.detach().to(device=like.device, dtype=like.dtype)
    if like.device.type == "cpu" and like.dtype in _NUMPY_FLOATS:   # ~1 us against torch.tensor's ~3
        return torch.from_numpy(np.array(vals, dtype=_NUMPY_FLOATS[like.dtype]))
    return torch.tensor(vals, dtype=like.dtype, device=like.device)


def with_conventions(fn):
    """Let an estimator with a TRL counterpart take ``convention="trl"`` (or "workbench"): the preset's std and
    eps, applied before the call. An explicit std or eps that contradicts the preset is refused, so a config
    never silently mixes conventions."""
    import functools

    @functools.wraps(fn)
    def run(rewards, weights, *args, convention: str = "workbench", **kwargs):
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {tuple(CONVENTIONS)}; got {convention!r}.")
        for key, value in CONVENTIONS[convention].items():
            if key in kwargs and kwargs[key] != value:
                raise ValueError(f"convention={convention} sets {key}={value}; drop {key}={kwargs[key]!r} or the "
                                 "convention.")
            kwargs[key] = value
        return fn(rewards, weights, *args, **kwargs)
    return run


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
