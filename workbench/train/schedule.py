"""Objective-weight schedules: the base weights as a function of the optimiser step.

``weights`` in the run config is a list (static weights, as before), null (1/K each) or a mapping::

    {schedule: linear, start: [0.9, 0.1], end: [0.1, 0.9]}            # ramp over the whole run
    {schedule: cosine, start: [0.9, 0.1], end: [0.1, 0.9], ramp: 50}  # half-cosine ramp over steps 0..50, then end
    {schedule: steps, values: [[0.9, 0.1], [0.5, 0.5]], at: [0, 40]}  # piecewise constant: values[i] from step at[i]

The step is the number of optimiser steps completed when a batch is generated (0 for the first batch), so a
schedule is a pure function of the trainer's global step and a resumed run continues at the same position.
Every vector is normalised to sum 1 (as static weights are) before it is interpolated, so the weights at every
step sum to 1. ``parse`` checks everything (shapes, finite, >= 0, not all 0 at any step) and raises ValueError
naming the key; nothing here touches the disk.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("linear", "cosine", "steps")
KEYS = {"linear": ("schedule", "start", "end", "ramp"), "cosine": ("schedule", "start", "end", "ramp"),
        "steps": ("schedule", "values", "at")}


@dataclass(frozen=True)
class WeightSchedule:
    """Base weights per step. kind: constant | linear | cosine | steps; vectors: the normalised anchor vectors
    (one for constant, start and end for a ramp, one per piece for steps); at: ramp length (ramps) or the start
    step of each piece (steps)."""

    kind: str
    vectors: tuple[tuple[float, ...], ...]
    at: tuple[int, ...] = ()

    @property
    def scheduled(self) -> bool:
        return self.kind != "constant"

    def __call__(self, step: int) -> list[float]:
        if self.kind == "constant":
            return list(self.vectors[0])
        if self.kind == "steps":
            piece = max(i for i, s in enumerate(self.at) if s <= max(step, 0))
            return list(self.vectors[piece])
        frac = min(max(step, 0) / self.at[0], 1.0) if self.at[0] > 0 else 1.0
        if self.kind == "cosine":
            frac = 0.5 * (1.0 - math.cos(math.pi * frac))
        start, end = self.vectors
        return [round(a + (b - a) * frac, 12) for a, b in zip(start, end)]   # no 0.6499999999999999 in summaries

    def label(self) -> str:
        """Readable identity of the schedule (the analysis' sweep point, the run directory's name)."""
        vec = lambda v: "-".join(f"{x:.4g}" for x in v)  # noqa: E731
        if self.kind == "constant":
            return vec(self.vectors[0])
        if self.kind == "steps":
            return "steps-" + "-".join(f"{vec(v)}@{s}" for v, s in zip(self.vectors, self.at))
        return f"{self.kind}-{vec(self.vectors[0])}-to-{vec(self.vectors[1])}-in{self.at[0]}"

    def record(self) -> dict:
        """The schedule as plain data (summary.json's ``weight_schedule``)."""
        out: dict = {"schedule": self.kind, "label": self.label()}
        if self.kind == "steps":
            out.update(values=[list(v) for v in self.vectors], at=list(self.at))
        elif self.kind != "constant":
            out.update(start=list(self.vectors[0]), end=list(self.vectors[1]), ramp=self.at[0])
        return out


def _vector(name: str, value, k: int, objectives: list[str]) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != k:
        raise ValueError(f"{name}={value!r} must be a list of {k} weights, one per objective {objectives} in that "
                         f"order, e.g. [{', '.join(['0.5'] * k)}].")
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0 for x in value):
        raise ValueError(f"{name}={list(value)}: every weight must be a finite number >= 0.")
    total = float(sum(value))
    if total <= 0:
        raise ValueError(f"{name}={list(value)} are all 0: at least one objective needs a positive weight.")
    return tuple(float(x) / total for x in value)


def constant(weights: list[float]) -> WeightSchedule:
    return WeightSchedule("constant", (tuple(float(x) for x in weights),))


def parse(spec: dict, objectives: list[str], steps: int) -> WeightSchedule:
    """A schedule mapping (see the module doc) -> WeightSchedule; ValueError naming the bad key otherwise.
    ``steps``: the run's optimiser steps (a ramp's default length; a piece starting at or after it never runs)."""
    k = len(objectives)
    kind = spec.get("schedule")
    if kind not in KINDS:
        raise ValueError(f"weights.schedule={kind!r}: a weight schedule is one of {', '.join(KINDS)} "
                         "(docs/training.md#weight-schedules), or give weights as a list for static weights.")
    unknown = sorted(set(spec) - set(KEYS[kind]))
    if unknown:
        raise ValueError(f"weights.{unknown[0]} is not a key of a {kind} schedule; its keys: "
                         f"{', '.join(KEYS[kind])}.")
    if kind == "steps":
        values, at = spec.get("values"), spec.get("at")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"weights.values={values!r} must be a non-empty list of weight lists, e.g. "
                             f"values: [[0.9, 0.1], [0.5, 0.5]].")
        if not isinstance(at, (list, tuple)) or len(at) != len(values):
            raise ValueError(f"weights.at={at!r} must give one start step per entry of weights.values "
                             f"({len(values)}), e.g. at: [0, 50].")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in at) or at[0] != 0 \
                or any(b <= a for a, b in zip(at, at[1:])):
            raise ValueError(f"weights.at={list(at)} must be increasing integer steps starting at 0 (the first piece "
                             "holds from the first step).")
        if at[-1] >= steps:
            raise ValueError(f"weights.at={list(at)}: a piece starting at step {at[-1]} never runs in a {steps}-step "
                             f"run (steps are 0..{steps - 1}); raise steps= or drop that piece.")
        vectors = tuple(_vector(f"weights.values[{i}]", v, k, objectives) for i, v in enumerate(values))
        return WeightSchedule("steps", vectors, tuple(int(s) for s in at))
    ramp = spec.get("ramp", None)
    if ramp is None:
        ramp = steps
    if isinstance(ramp, bool) or not isinstance(ramp, int) or ramp < 1:
        raise ValueError(f"weights.ramp={ramp!r} must be an integer >= 1 (the steps over which the weights move from "
                         "start to end), or null for the whole run.")
    vectors = (_vector("weights.start", spec.get("start"), k, objectives),
               _vector("weights.end", spec.get("end"), k, objectives))
    schedule = WeightSchedule(kind, vectors, (int(ramp),))
    # Convex combinations of two normalised vectors sum to 1, so no step can be all 0; checked anyway, since the
    # estimator divides by the weights' sum in places.
    for step in range(min(steps, ramp) + 1):
        if not sum(schedule(step)) > 0:
            raise ValueError(f"weights: the schedule's weights are all 0 at step {step}.")
    return schedule
