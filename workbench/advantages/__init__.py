"""Advantage estimators for multi-reward GRPO: one registry, one module per estimator.

    from workbench import advantages
    advantages.names()                      # ['ac', 'dvao', 'gdpo', 'grpo_nostd', 'rc']
    res = advantages.get("dvao")(rewards, weights, std="population", eps=1e-6)
    res.advantages                          # (B, G)

rewards: (B, G, K) float tensor, NaN = missing; weights: (K,). See base.py for the contract and
stats.py for the shared NaN / std / constant-group conventions.
"""
from . import ac, dvao, gdpo, grpo_nostd, rc  # noqa: F401  (importing registers each estimator)
from .base import AdvantageResult, get, names, register

__all__ = ["AdvantageResult", "get", "names", "register"]
