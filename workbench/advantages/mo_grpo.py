"""MO-GRPO (arXiv 2509.22047) is AC: registered as ``mo_grpo``, an alias of the ``ac`` estimator.

MO-GRPO normalises each reward function by its own within-group mean and standard deviation and sums
the normalised values, so that every reward contributes evenly whatever its scale:

    A[i,j] = sum_k (r[i,j,k] - mu[i,k]) / sigma[i,k]

which is AC with equal weights (and AC with base weights w is the weighted form). The same function
object is registered under both names (tests/test_advantages_zoo.py asserts it), so the two can
never drift apart and ``method=mo_grpo`` runs exactly AC's numbers.

Source and its limits. Read: the paper's abstract (arXiv 2509.22047v2: "a simple normalization method
to reweight the reward functions automatically according to the variances of their values"), and
summaries that describe the method as "per-reward normalized advantages, aggregated" by summation.
The paper's method section (its equation) was not in the search corpora. If the paper additionally
re-normalised the *summed* advantage within the group (running GRPO's own z-score on the normalised
reward), that is AC divided per group by std_j(AC), which this alias does not do. The bandit study
therefore runs ``ac`` once and does not repeat it under this name.
"""
from __future__ import annotations

from .ac import ac
from .base import register

mo_grpo = register("mo_grpo")(ac)
