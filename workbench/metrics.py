"""Metric keys: the contract between training, the run store, W&B and analysis.

Keys read ``section/name[/stat]``. W&B's default workspace groups panels by the first segment, so
each section below becomes one panel section (objectives, weights, variances, advantages, ...).
Training writes exactly these names to the local run store *and* to W&B; analysis reads them back.
Never build a metric key by hand elsewhere: call the functions here.
"""
from __future__ import annotations

# ---- sections (first key segment) --------------------------------------------------------------
REWARD = "reward"        # per-objective reward statistics of the training batch
VARIANCE = "variance"    # per-objective within-group spread (the paper's variance collapse)
WEIGHT = "weight"        # per-objective effective weight (DVAO's dynamic w~; static for the others)
ADVANTAGE = "advantage"  # advantage magnitude (the paper's stability claim)
TRAIN = "train"          # optimisation: loss, grad norm, KL, lengths, timing
EVAL = "eval"            # held-out per-objective metrics: the Pareto axes
DYNAMIC = "dynamic"      # dynamic sampling: groups dropped, generations spent (train.dynamic_sampling)

STEP = "step"            # every record in metrics.jsonl / eval.jsonl carries the optimiser step


def reward_mean(objective: str) -> str:
    """Mean reward of ``objective`` over the batch (missing rewards excluded)."""
    return f"{REWARD}/{objective}/mean"


def group_std(objective: str) -> str:
    """Mean over groups of ``objective``'s within-group std (estimator's std convention)."""
    return f"{VARIANCE}/{objective}/group_std"


def weight(objective: str) -> str:
    """Mean of ``objective``'s effective weight over the groups where weights are defined."""
    return f"{WEIGHT}/{objective}/effective"


def base_weight(objective: str) -> str:
    """``objective``'s base weight in use at the step (the configured weights, or a schedule's at that step)."""
    return f"{WEIGHT}/{objective}/base"


def zero_spread_frac(objective: str) -> str:
    """Fraction of the step's generated groups in which ``objective``'s rewards are all equal (no signal on it);
    with dynamic sampling, over every group generated in the step, dropped ones included."""
    return f"{VARIANCE}/{objective}/zero_spread_frac"


def eval_metric(name: str) -> str:
    """A held-out metric, e.g. ``eval/accuracy`` or ``eval/length_ok``."""
    return f"{EVAL}/{name}"


ADV_ABS_MEAN = f"{ADVANTAGE}/abs_mean"          # mean |A| over completions
ADV_SQ_MEAN = f"{ADVANTAGE}/sq_mean"            # mean A^2 (Proposition 1: RC gives 1 per group)
ADV_ABS_MAX = f"{ADVANTAGE}/abs_max"            # max |A| in the batch
ZERO_VAR_FRAC = f"{ADVANTAGE}/zero_var_frac"    # fraction of groups where every objective is constant
REWARD_TOTAL = f"{REWARD}/weighted/mean"        # mean of the base-weighted scalar reward

# Dynamic sampling, per generation batch (absent with train.dynamic_sampling=off); counts over every process.
DS_GROUPS_GENERATED = f"{DYNAMIC}/groups_generated"   # groups generated in the step (every round)
DS_GROUPS_DROPPED = f"{DYNAMIC}/groups_dropped"       # groups rejected and left out of the batch
DS_GROUPS_FILLED = f"{DYNAMIC}/groups_filled"         # rejected groups trained on because the round bound was hit
DS_EXTRA_COMPLETIONS = f"{DYNAMIC}/extra_completions"  # completions generated beyond the configured batch
DS_ROUNDS = f"{DYNAMIC}/rounds"                       # generation rounds (1 = nothing replaced)

GRAD_NORM = f"{TRAIN}/grad_norm"
LOSS = f"{TRAIN}/loss"
KL = f"{TRAIN}/kl"
COMPLETION_LENGTH = f"{TRAIN}/completion_length"
STEP_TIME = f"{TRAIN}/step_time"                # seconds per optimiser step (wall clock)
LEARNING_RATE = f"{TRAIN}/learning_rate"


def per_objective_keys(objectives: list[str]) -> list[str]:
    """Every per-objective training key for the given objective names."""
    return [k for o in objectives for k in (reward_mean(o), group_std(o), weight(o))]


def estimator_metrics(rewards, base_weights, result, objectives: list[str]) -> dict[str, float]:
    """Per-step training metrics from one estimator call; shared by the LLM trainer and the simulator.

    rewards: (B, G, K) with NaN for missing; base_weights: (K,); result: an AdvantageResult.
    Returns reward means, mean within-group std and mean effective weight per objective, the
    weighted-reward mean, advantage magnitude statistics and the zero-variance group fraction.
    """
    import torch

    out: dict[str, float] = {}
    adv = result.advantages
    # DVAO's w~ is undefined (all zero) in a group where every objective is constant: average the
    # weights over the groups where they are defined, so the logged weights still sum to 1.
    defined = result.weights.sum(-1) > 0
    for k, name in enumerate(objectives):
        out[reward_mean(name)] = float(torch.nanmean(rewards[..., k]))
        out[group_std(name)] = float(result.group_std[:, k].mean())
        out[weight(name)] = float(result.weights[defined, k].mean()) if defined.any() else float("nan")
    scalar = (torch.nan_to_num(rewards) * base_weights.to(rewards)).sum(-1)
    out[REWARD_TOTAL] = float(scalar.mean())
    out[ADV_ABS_MEAN] = float(adv.abs().mean())
    out[ADV_SQ_MEAN] = float(adv.pow(2).mean())
    out[ADV_ABS_MAX] = float(adv.abs().max())
    out[ZERO_VAR_FRAC] = float((result.group_std <= 0).all(dim=-1).float().mean())
    return out
