"""A bandit run: config -> bandit, policy and estimator -> ``steps`` GRPO updates -> logged metrics and a summary.

``simulate`` is the whole experiment as one function of plain values (tests and the benchmark call it);
``run_bandit(cfg, logger)`` is what ``python -m workbench.run task=bandit`` dispatches to: it reads the
composed Hydra config, calls ``simulate`` with the run logger's ``log``/``log_eval`` and returns the
summary.json record (store contract: method, task, model, G, K, seed, weights, sweep, objectives,
eval_axes, step, the final ``eval/*`` values, plus the bandit's settings as extra axes).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from workbench import metrics as M
from workbench.sim import front as F
from workbench.sim.env import Bandit, BanditSpec, make_bandit, objective_names
from workbench.sim.policy import make_policy
from workbench.sim.train import UpdateSettings, make_optimizer, policy_value, update

HV_FRAC, FRONT_DISTANCE, REGRET = M.eval_metric("hv_frac"), M.eval_metric("front_distance"), M.eval_metric("regret")


@dataclass(frozen=True)
class LearnerSpec:
    """The policy and optimiser keys of conf/task/bandit.yaml."""

    policy: str = "tabular"          # tabular | mlp
    hidden: int = 32                 # MLP width
    lr: float = 0.05                 # learning rate (train.learning_rate overrides it when set)
    optimizer: str = "adam"          # adam | sgd
    clip: float = 0.2                # GRPO clip epsilon
    epochs: int = 1                  # inner epochs per batch of samples
    batch_contexts: int | None = None  # contexts per update; null = all
    log_every: int = 10              # a metrics.jsonl record every N updates (metrics cost more than an update)
    eval_policy: str = "sampling"    # sampling | greedy: which policy eval/<objective> scores
    env_seed: int | None = None      # seed of the bandit draw; null = the run's seed

    def __post_init__(self):
        if self.eval_policy not in ("sampling", "greedy"):
            raise ValueError(f"eval_policy={self.eval_policy!r}: use sampling or greedy")
        if self.lr <= 0 or self.log_every < 1 or self.hidden < 1:
            raise ValueError("lr must be > 0, log_every >= 1 and hidden >= 1")


TASK_ONLY_KEYS = ("name", "kind")


def parse_task(task: dict) -> tuple[BanditSpec, LearnerSpec]:
    """Split conf/task/bandit.yaml's mapping into the two specs; an unknown key raises naming the valid ones."""
    env_keys = {f.name for f in dataclasses.fields(BanditSpec)}
    learn_keys = {f.name for f in dataclasses.fields(LearnerSpec)}
    unknown = sorted(set(task) - env_keys - learn_keys - set(TASK_ONLY_KEYS))
    if unknown:
        raise ValueError(f"unknown bandit task key(s) {', '.join('task.' + k for k in unknown)}; "
                         f"valid keys: {', '.join(sorted(env_keys | learn_keys))}")
    env = BanditSpec(**{k: v for k, v in task.items() if k in env_keys})
    return env, LearnerSpec(**{k: v for k, v in task.items() if k in learn_keys})


@dataclass(frozen=True)
class FrontInfo:
    """Per-bandit constants of the evaluation: reference point, best single-point HV, the K=2 front."""

    ref: np.ndarray
    max_hv: float
    vertices: np.ndarray | None      # exact front vertices (K = 2 only)
    achievable_hv: float | None      # exact hypervolume of the achievable set (K = 2 only)

    @classmethod
    def of(cls, bandit: Bandit) -> "FrontInfo":
        ref = F.reference_point(bandit.means)
        verts = F.front_2d(bandit.means) if bandit.means.shape[2] == 2 else None
        max_hv, _ = F.max_point_hypervolume(bandit.means, ref, vertices=verts)
        return cls(ref, max_hv, verts, None if verts is None else F.hypervolume_2d(verts, ref))


def evaluate(policy, bandit: Bandit, info: FrontInfo, weights, greedy: bool = False) -> dict[str, float]:
    """eval/<objective> (true expected reward), eval/hv_frac, eval/front_distance and eval/regret."""
    x = policy_value(policy, bandit, greedy).numpy()
    out = {M.eval_metric(name): float(v) for name, v in zip(bandit.objectives, x)}
    out[HV_FRAC] = F.point_hypervolume(x, info.ref) / info.max_hv
    out[FRONT_DISTANCE] = F.front_distance(bandit.means, x)
    out[REGRET] = F.regret(bandit.means, x, weights)
    return out


def simulate(env: BanditSpec, learner: LearnerSpec, *, estimator: str, weights, G: int, steps: int, seed: int,
             options: dict | None = None, eval_every: int = 0,
             on_log: Callable[[int, dict], None] | None = None,
             on_eval: Callable[[int, dict], None] | None = None,
             check_stop: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train one policy for ``steps`` updates; returns the final eval metrics plus ``step`` and the median step time.

    weights: (K,) base weights (normalised by the caller or not: only ratios matter for regret), or a weight schedule
    (workbench/train/schedule.py): update s uses its weights at step s - 1, each evaluation those of its update.
    Evaluations run every ``eval_every`` updates (0: only at the end) and always once at the end.
    ``check_stop(step)`` runs after every update but the last; it raises to end the run there (a signal).
    """
    from workbench import advantages

    fn = advantages.get(estimator)
    bandit = make_bandit(env, seed if learner.env_seed is None else learner.env_seed)
    info = FrontInfo.of(bandit)
    torch.manual_seed(seed)
    policy = make_policy(learner.policy, bandit.features, env.candidates, learner.hidden)
    opt = make_optimizer(learner.optimizer, policy.parameters(), learner.lr)
    gen = torch.Generator().manual_seed(seed)
    schedule = weights if callable(weights) else None    # a weight schedule: weights at step s-1 for update s
    w = torch.as_tensor(list(schedule(0) if schedule else weights), dtype=torch.float32)
    settings = UpdateSettings(G=G, clip=learner.clip, epochs=learner.epochs, batch_contexts=learner.batch_contexts)
    greedy = learner.eval_policy == "greedy"
    stateful, state = advantages.is_stateful(estimator), None     # a stateful estimator's state, step to step
    step_times, last_eval = [], {}
    for step in range(1, steps + 1):
        t0 = time.perf_counter()
        opts = {**(options or {}), "state": state} if stateful else options
        if schedule is not None:
            w = torch.as_tensor(schedule(step - 1), dtype=torch.float32)
        out = update(policy, opt, bandit, fn, w, settings, gen, opts)
        state = out.result.state
        step_times.append(time.perf_counter() - t0)
        if on_log is not None and (step % learner.log_every == 0 or step == steps):
            record = M.estimator_metrics(out.rewards, w, out.result, bandit.objectives)
            record.update({M.base_weight(o): float(x) for o, x in zip(bandit.objectives, w.tolist())})
            record[M.LOSS] = out.loss
            record[M.STEP_TIME] = step_times[-1]
            on_log(step, record)
        if step == steps or (eval_every and step % eval_every == 0):
            last_eval = evaluate(policy, bandit, info, w.double().numpy(), greedy)
            if on_eval is not None:
                on_eval(step, last_eval)
        if check_stop is not None and step < steps:
            check_stop(step)
    summary = {"step": steps, **last_eval, M.STEP_TIME: float(np.median(step_times)) if step_times else None}
    if info.achievable_hv is not None:
        summary["front_hv"] = info.achievable_hv
    summary["front_max_point_hv"] = info.max_hv
    return summary


def run_bandit(cfg, logger, check_stop: Callable[[int], None] | None = None) -> dict[str, Any]:
    """``python -m workbench.run task=bandit ...``: validate, simulate with ``logger``, return summary.json's record."""
    from workbench.train import config as C

    run = C.load(cfg)
    if run.threads is None:   # tiny tensors: extra intra-op threads only add overhead (measured 16x slower)
        torch.set_num_threads(1)
    env, learner = parse_task({k: v for k, v in run.task.items()})
    if run.train.learning_rate is not None:
        learner = dataclasses.replace(learner, lr=float(run.train.learning_rate))
    objectives = objective_names(env.K)
    schedule = C.weight_schedule(run, objectives)
    weights = schedule(run.steps - 1)                  # the weights of the last update (regret is scored on them)
    summary: dict[str, Any] = dict(
        method=run.method.name, task=run.task["name"], model=learner.policy, G=run.G, K=env.K, seed=run.seed,
        weights=list(weights), sweep=run.sweep, objectives=objectives, eval_axes=list(objectives),
    )
    if schedule.scheduled:
        summary["weight_schedule"] = schedule.record()
    for key, value in run.task.items():   # the bandit's settings are analysis axes (e.g. aux_noise)
        if key not in summary and key not in TASK_ONLY_KEYS and isinstance(value, (int, float, str)):
            summary[key] = value
    result = simulate(env, learner, estimator=run.method.estimator, options=run.method.options,
                      weights=schedule if schedule.scheduled else weights,
                      G=run.G, steps=run.steps, seed=run.seed, eval_every=run.eval.every,
                      on_log=logger.log, on_eval=logger.log_eval, check_stop=check_stop)
    summary.update(result)
    return summary
