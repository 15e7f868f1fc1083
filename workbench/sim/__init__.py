"""The multi-objective bandit test bed: estimator studies in seconds against an exact Pareto front.

    python -m workbench.run task=bandit method=dvao G=16 steps=300

env.py (the bandit generator), policy.py (tabular / MLP softmax policies), train.py (one vectorised GRPO
update), front.py (the exact achievable set and the eval metrics against it), runner.py (config -> run).
"""
from workbench.sim.runner import run_bandit, simulate

__all__ = ["run_bandit", "simulate"]
