"""Advantage estimators for multi-reward GRPO: one registry, one module per estimator.

    from workbench import advantages
    advantages.names()   # ['ac', 'dvao', 'dvao_shrink', 'gd2po', 'gdpo', 'grpo_nostd', 'jspo', 'mo_grpo', 'rc', 'rc_shrink', 'rdpo']
    res = advantages.get("dvao")(rewards, weights, std="population", eps=1e-6)
    res.advantages                          # (B, G)

rewards: (B, G, K) float tensor, NaN = missing; weights: (K,). See base.py for the contract (and the
optional state a stateful estimator carries across steps), stats.py for the shared NaN / std /
constant-group conventions and docs/estimators.md for every estimator's formula and source.
"""
from . import ac, dvao, dvao_shrink, gd2po, gdpo, grpo_nostd, jspo, mo_grpo, rc, rc_shrink, rdpo  # noqa: F401  (registers)
from .base import AdvantageResult, get, is_stateful, names, register

__all__ = ["AdvantageResult", "get", "is_stateful", "names", "register"]
