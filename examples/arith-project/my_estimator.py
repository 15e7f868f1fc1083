"""An estimator of this project: AC with each objective's group z-score clipped to [-clip, clip] before the
weighted sum, so one outlier completion cannot dominate an objective's advantage.

Registered as `ac_clip` when this file is imported (the experiment lists it in `plugins`)."""
import torch

from workbench.advantages import AdvantageResult, register


@register("ac_clip")
def ac_clip(rewards: torch.Tensor, weights, *, clip: float = 2.0, eps: float = 1e-6) -> AdvantageResult:
    """rewards: (B, G, K), NaN = missing; weights: (K,). Returns advantages (B, G) and the per-group statistics."""
    if not clip > 0:
        raise ValueError(f"clip={clip!r} must be > 0")
    w = torch.as_tensor(weights, dtype=rewards.dtype, device=rewards.device)
    present = ~torch.isnan(rewards)
    count = present.sum(dim=1, keepdim=True).clamp(min=1)
    filled = torch.where(present, rewards, torch.zeros_like(rewards))
    mean = filled.sum(dim=1, keepdim=True) / count
    centred = torch.where(present, rewards - mean, torch.zeros_like(rewards))
    std = ((centred ** 2).sum(dim=1, keepdim=True) / count).sqrt()   # population std over present rewards
    z = (centred / (std + eps)).clamp(-clip, clip)                     # a missing reward contributes 0
    advantages = (z * w).sum(dim=-1)
    return AdvantageResult(advantages=advantages, group_mean=mean.squeeze(1), group_std=std.squeeze(1),
                           weights=w.expand(rewards.shape[0], -1).clone())
