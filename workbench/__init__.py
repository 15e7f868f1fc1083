"""DVAO workbench: multi-reward GRPO estimators, training, sweeps and Pareto analysis."""

__version__ = "0.1.0"
