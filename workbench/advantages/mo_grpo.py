"""MO-GRPO (arXiv 2509.22047) is AC: registered as ``mo_grpo``, an alias of the ``ac`` estimator.

MO-GRPO standardises each reward function within the group by its own mean and standard deviation and
sums the standardised values, so every reward contributes evenly whatever its scale:

    A[i,j] = sum_k (r[i,j,k] - mu[i,k]) / sigma[i,k]

which is AC with equal weights (AC with base weights w is the weighted form). The summed advantage is
not standardised again. The same function object is registered under both names (a test asserts it),
so the two can never drift apart and ``method=mo_grpo`` runs exactly AC's numbers.

What was read (the paper's method section and its official code, github.com/CyberAgentAILab/MO-GRPO,
were not in the search corpora, so the equation is not quoted from the paper):
- the paper's abstract and opening (arxiv.org/html/2509.22047v2): "a simple normalization method to
  reweight the reward functions automatically according to the variances of their values", which
  "ensures that all reward functions contribute evenly to the loss function while preserving the order
  of preferences" and "evenly distribut[es] correlations among the components of rewards";
- a paper summary (papers.lunadong.com): "normalizes advantage functions individually for each objective
  before aggregation", instead of "summing raw rewards and then normalizing the total" as GRPO does;
- two independent public implementations that cite the paper: one computes, per reward function,
  (r - group mean) / (group std + 1e-4) with torch's Bessel std, optionally times the reward weight,
  and sums over functions, nothing after; the other enforces TRL's ``normalize_then_sum`` and notes
  that TRL's extra batch-wide standardisation goes beyond the paper.
All agree on per-reward group standardisation then a plain sum: AC. The first implementation's numbers
are ``mo_grpo`` with ``std: bessel, eps: 1e-4`` (a test checks it). The bandit study runs ``ac`` once and
does not repeat it under this name.
"""
from __future__ import annotations

from .ac import ac
from .base import register

mo_grpo = register("mo_grpo")(ac)
