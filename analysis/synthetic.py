"""Synthetic run directories with a known answer, written through ``workbench.store.RunStore``.

Used by the tests and the benchmark (and handy to try the analysis commands before any training):
every method's final eval point lies on a quarter circle of a method-specific radius ``QUALITY[m]``,
at an angle set by the base accuracy weight, so which method dominates which is known in advance::

    accuracy = QUALITY[m] * sin(w0 * pi / 2),   length_ok = QUALITY[m] * cos(w0 * pi / 2)   (+ seed noise)

Per-step metrics use the workbench.metrics keys and follow simple curves (rewards rise, within-group
std collapses, DVAO's weights move, the others' stay at the base weights).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import yaml

from workbench import metrics as M
from workbench.store import DONE, FAILED, METRICS, RUNNING, RunStore

QUALITY = {"dvao": 0.95, "gdpo": 0.92, "ac": 0.88, "rc": 0.85, "grpo_nostd": 0.80, "single": 0.70}
OBJECTIVES = ("accuracy", "length")
EVAL_AXES = ("accuracy", "length_ok")
THIRD_AXIS = "format"   # axes=3 adds it: QUALITY[m] * (0.6 + 0.3 * w0), so a 3-axis panel has a front too


def true_point(method: str, w0: float) -> tuple[float, float]:
    """The noise-free (accuracy, length_ok) of ``method`` trained with base accuracy weight ``w0``."""
    q = QUALITY.get(method, 0.5)
    theta = w0 * math.pi / 2
    return q * math.sin(theta), q * math.cos(theta)


def _curves(method, weights, final, steps, G, rng) -> dict[str, np.ndarray]:
    """Per-step metric arrays, each (steps,), keyed by workbench.metrics keys."""
    t = np.arange(1, steps + 1)
    progress = 1.0 - np.exp(-t / max(steps / 4, 1.0))
    out: dict[str, np.ndarray] = {}
    sigma = []
    for k, obj in enumerate(OBJECTIVES):
        out[M.reward_mean(obj)] = np.clip(final[k] * progress + rng.normal(0, 0.02, steps), 0, 1)
        s = 0.45 * (1 - progress) + 0.05 * (k + 1) + np.abs(rng.normal(0, 0.01, steps))
        out[M.group_std(obj)] = s
        sigma.append(s)
    w = np.asarray(weights, float)
    sig = np.stack(sigma, 1)                                     # (steps, K)
    dyn = w * sig / (w * sig).sum(1, keepdims=True) if method == "dvao" else np.broadcast_to(w, sig.shape)
    for k, obj in enumerate(OBJECTIVES):
        out[M.weight(obj)] = dyn[:, k]
    out[M.REWARD_TOTAL] = sum(w[k] * out[M.reward_mean(o)] for k, o in enumerate(OBJECTIVES))
    sq = {"rc": 1.0, "gdpo": 1.0, "ac": 0.8, "dvao": 0.6}.get(method, 0.9) * (0.9 + 0.1 * rng.random(steps))
    out[M.ADV_SQ_MEAN] = sq
    out[M.ADV_ABS_MEAN] = np.sqrt(sq) * 0.8
    out[M.ADV_ABS_MAX] = np.sqrt(sq) * math.sqrt(G - 1) * (0.8 + 0.2 * rng.random(steps))
    out[M.ZERO_VAR_FRAC] = np.clip(0.6 * progress + rng.normal(0, 0.02, steps), 0, 1)
    out[M.GRAD_NORM] = 1.0 / (1 + 0.05 * t) + np.abs(rng.normal(0, 0.05, steps))
    out[M.LOSS] = rng.normal(0, 0.01, steps)
    out[M.KL] = 0.001 * t / steps
    out[M.COMPLETION_LENGTH] = 40 - 20 * progress
    out[M.STEP_TIME] = 0.1 + 0.01 * rng.random(steps)
    out[M.LEARNING_RATE] = np.full(steps, 1e-6)
    return out


def write_run(root, *, method: str, w0: float = 0.5, seed: int = 0, task: str = "math", model: str = "tiny",
              G: int = 8, steps: int = 20, status: str = DONE, sweep: str | None = "synthetic",
              extra: dict | None = None, truncate_last: bool = False, bulk: bool = False,
              noise: float = 0.01, axes: int = 2) -> Path:
    """Write one run directory under ``root`` and return its path.

    status: "done" (complete run with summary.json), "failed" (stops halfway, error recorded, no summary)
    or "running" (stops halfway, no summary). truncate_last appends a half-written metrics line, as a
    run killed mid-write leaves. bulk writes metrics.jsonl in one call instead of RunStore's fsync per
    step (same bytes; 500k fsyncs would dominate the benchmark). extra: more config axes (e.g. noise).
    axes: 2 eval axes (EVAL_AXES) or 3 (plus THIRD_AXIS).
    """
    weights = [1.0, 0.0] if method == "single" else [round(w0, 6), round(1 - w0, 6)]
    tag = "".join(f"_{k}{v}" for k, v in sorted((extra or {}).items()))
    rng = np.random.default_rng([seed, int(w0 * 1000), G, sum(map(ord, method + task + model + tag))])
    point = true_point(method, weights[0] if method != "single" else 1.0)
    final = [float(np.clip(v + rng.normal(0, noise), 0, 1)) for v in point]
    if method == "single":
        final[1] = float(np.clip(0.3 * QUALITY["single"] + rng.normal(0, noise), 0, 1))
    eval_axes = EVAL_AXES + ((THIRD_AXIS,) if axes == 3 else ())
    if axes == 3:
        final.append(float(np.clip(QUALITY.get(method, 0.5) * (0.6 + 0.3 * w0) + rng.normal(0, noise), 0, 1)))
    path = Path(root) / task / model / (sweep or "adhoc") / f"{method}_w{w0:g}_G{G}{tag}_s{seed}"
    store = RunStore(path)
    config = {"method": {"name": method}, "task": {"name": task, "kind": "llm"}, "model": {"name": model},
              "logger": {"name": "none"}, "G": G, "seed": seed, "steps": steps, "weights": weights,
              "run_dir": str(path), "resume": False, "sweep": sweep, **(extra or {})}
    store.write_config(yaml.safe_dump(config, sort_keys=False))
    store.set_status(RUNNING, step=0)
    last = steps if status == DONE else steps // 2
    curves = _curves(method, weights, final, steps, G, rng)
    rows = [{k: float(v[i]) for k, v in curves.items()} for i in range(last)]
    if bulk:
        text = "".join(json.dumps({M.STEP: i + 1, **r}) + "\n" for i, r in enumerate(rows))
        with open(path / METRICS, "a") as f:
            f.write(text)
    else:
        for i, r in enumerate(rows):
            store.log_metrics(i + 1, r)
    for s in range(max(last // 4, 1), last + 1, max(last // 4, 1)):
        frac = 1 - math.exp(-s / max(steps / 4, 1))
        store.log_eval(s, {M.eval_metric(a): final[k] * frac for k, a in enumerate(eval_axes)})
    if truncate_last:
        with open(path / METRICS, "a") as f:
            f.write(json.dumps({M.STEP: last + 1, **rows[-1]})[:40])
    if status == FAILED:
        store.set_status(FAILED, step=last, error="RuntimeError: synthetic failure")
    elif status == RUNNING:
        store.set_status(RUNNING, step=last)
    else:
        store.write_summary({"method": method, "task": task, "model": model, "G": G, "K": len(OBJECTIVES),
                             "seed": seed, "weights": weights, "sweep": sweep, "objectives": list(OBJECTIVES),
                             "eval_axes": list(eval_axes), "step": steps, **(extra or {}),
                             **{M.eval_metric(a): final[k] for k, a in enumerate(eval_axes)}})
        store.set_status(DONE, step=steps)
    return path


def write_sweep(root, *, methods=("rc", "ac", "gdpo", "dvao"), w0s=(0.1, 0.3, 0.5, 0.7, 0.9), seeds=(0, 1, 2),
                steps: int = 20, bulk: bool = False, **kwargs) -> list[Path]:
    """The paper's Pareto sweep (methods x base accuracy weight x seeds) as synthetic run directories."""
    return [write_run(root, method=m, w0=w, seed=s, steps=steps, bulk=bulk, **kwargs)
            for m in methods for w in (w0s if m != "single" else (1.0,)) for s in seeds]
