"""Multi-objective dynamic sampling (DAPO's, generalised to K objectives): which groups carry no signal, and
how a batch is filled with the groups that do.

A group's objective is *constant* when its non-missing rewards are all equal (or fewer than two are present):
every estimator gives it no within-group signal on that objective. ``train.dynamic_sampling``:

- ``off``: every group is trained on (the default);
- ``all_constant``: a group is dropped when every objective is constant in it (no estimator can give it a
  non-zero advantage);
- ``top_constant``: a group is dropped when the highest-weight objective (the current base weights; with a tie,
  every tied objective) is constant in it, even if another objective varies.

Dropped groups are replaced by groups of newly sampled prompts until the batch holds as many groups as
configured, within ``train.dynamic_sampling_rounds`` extra generation rounds. When the bound is hit, the
remaining places are filled with the dropped groups of the step, earliest first (counted as ``filled``), so the
batch size never changes. With several processes each fills its own share (its rows stay on it); all see the
gathered rewards, so all take the same decisions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

MODES = ("off", "all_constant", "top_constant")


def constant_objectives(rewards: torch.Tensor) -> torch.Tensor:
    """(B, G, K) rewards, NaN = missing -> (B, K) bool: the objective's present rewards are all equal."""
    present = ~torch.isnan(rewards)
    hi = torch.where(present, rewards, torch.full_like(rewards, -torch.inf)).amax(dim=1)
    lo = torch.where(present, rewards, torch.full_like(rewards, torch.inf)).amin(dim=1)
    return (present.sum(dim=1) < 2) | (hi <= lo)


def drop_mask(rewards: torch.Tensor, weights, mode: str) -> torch.Tensor:
    """(B,) bool: the groups ``mode`` drops. weights: the (K,) base weights in use."""
    const = constant_objectives(rewards)
    if mode == "off":
        return torch.zeros(const.shape[0], dtype=torch.bool, device=const.device)
    if mode == "all_constant":
        return const.all(dim=-1)
    if mode == "top_constant":
        w = torch.as_tensor(weights, dtype=torch.float32, device=const.device)
        top = w >= w.max()
        return const[:, top].all(dim=-1)
    raise ValueError(f"dynamic sampling mode {mode!r}; valid: {', '.join(MODES)}")


@dataclass
class Fill:
    """Which groups one process trains on: ``chosen`` (round, group) pairs in batch order, with the counts
    of what happened. Groups are indexed within the process's own share of each round."""

    need: int
    chosen: list[tuple[int, int]] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)   # failed the test, in generation order
    filled: int = 0                                                # dropped groups let in at the bound

    @property
    def short(self) -> int:
        return self.need - len(self.chosen)

    def add_round(self, round_: int, drop: torch.Tensor) -> None:
        """Take this round's kept groups (in order) while places remain; remember the dropped ones."""
        for g, bad in enumerate(drop.tolist()):
            if bad:
                self.dropped.append((round_, g))
            elif self.short > 0:
                self.chosen.append((round_, g))

    def close(self) -> None:
        """The bound is hit: fill the remaining places with dropped groups, earliest first."""
        take = self.dropped[: self.short]
        self.dropped = self.dropped[len(take):]
        self.filled += len(take)
        self.chosen.extend(take)


def pad_cat(tensors: list[torch.Tensor], value: float, side: str) -> torch.Tensor:
    """Concatenate (n_i, L_i) tensors along rows, padding each to the longest L on ``side`` with ``value``."""
    width = max(t.shape[1] for t in tensors)
    out = []
    for t in tensors:
        extra = width - t.shape[1]
        if extra:
            pad = t.new_full((t.shape[0], extra), value)
            t = torch.cat([pad, t] if side == "left" else [t, pad], dim=1)
        out.append(t)
    return torch.cat(out, dim=0)
