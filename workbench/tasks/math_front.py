"""The math test bed's known front: what the warmed policy can reach by choosing its answer form per difficulty.

The warmed tiny policy answers in one of two forms (``math_data.FORMS``: direct or worked). When the
model is built (workbench/models/tiny.py) the task samples its whole held-out split several times and
keeps a *property record*: per difficulty and form, how many completions took that form, how many
were right and their token lengths (``measure``). Assuming RL changes only *which* form the policy
picks on each difficulty, not how well it carries a form out, the expected (accuracy, length
compliance) pairs it can reach are the mixtures over per-difficulty form choices

    A = sum_d share_d * conv{ (accuracy[d, f], compliance[d, f]) : f in FORMS }

(``share_d``: the difficulty's share of the evaluated prompts). Completions in neither form (no
answer marker, garbage) are left out: they are dominated, so the front assumes none. The front is
A's upper-right boundary. A policy's ``front_distance`` is the bandit's (workbench/sim/front.py,
reused here): the largest t such that (accuracy + t, compliance + t) is still in A, i.e. how much
both axes could still improve at once; 0 on the front, negative beyond it (which happens only when
RL made a form itself more accurate than the record says).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from workbench.tasks import math_rewards as mr
from workbench.tasks.math_data import FORMS, answer_form

RECORD_FORMS = FORMS + ("other",)


def tally(texts: Sequence[str], lengths: Sequence[int], answers: Sequence[str],
          difficulties: Sequence[str]) -> dict[str, dict[str, dict]]:
    """Per difficulty and form: ``{"n", "correct", "lengths": {tokens: count}}`` of sampled completions."""
    cells: dict[str, dict[str, dict]] = {}
    for text, n_tokens, answer, difficulty in zip(texts, lengths, answers, difficulties):
        forms = cells.setdefault(difficulty, {f: {"n": 0, "correct": 0, "lengths": Counter()} for f in RECORD_FORMS})
        cell = forms[answer_form(text)]
        cell["n"] += 1
        cell["correct"] += int(mr.accuracy_score(text, answer))
        cell["lengths"][int(n_tokens)] += 1
    for forms in cells.values():  # JSON keys are strings; sorted for a readable warmup.json
        for cell in forms.values():
            cell["lengths"] = {str(k): v for k, v in sorted(cell["lengths"].items())}
    return cells


def measure(model, tokenizer, rows: Sequence[dict], samples: int, temperature: float, top_p: float,
            max_new_tokens: int, seed: int = 0) -> dict:
    """The property record of ``model`` on ``rows`` (prompt, answer, difficulty), ``samples`` completions
    per prompt, sampled as held-out evaluation samples them (workbench/train/evaluate.py)."""
    from workbench.train.evaluate import EvalSettings, generate

    import torch

    prompts = [r["prompt"] for r in rows for _ in range(samples)]
    settings = EvalSettings(prompts=len(prompts), temperature=temperature, top_p=top_p,
                            max_new_tokens=max_new_tokens, batch_size=256)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        texts, lengths, _ = generate(model, tokenizer, prompts, settings)
    cells = tally(texts, lengths, [r["answer"] for r in rows for _ in range(samples)],
                  [r.get("difficulty", "all") for r in rows for _ in range(samples)])
    return {"prompts": len(rows), "samples": samples, "temperature": temperature, "top_p": top_p,
            "max_new_tokens": max_new_tokens, "seed": seed, "cells": cells}


def compliance(cell: dict, limit: int) -> float:
    """Share of a cell's completions with at most ``limit`` tokens."""
    return sum(v for k, v in cell["lengths"].items() if int(k) <= limit) / cell["n"]


def properties(record: dict, limit: int) -> dict[str, dict[str, float]]:
    """Per difficulty: each form's rate and, for the two forms, accuracy and compliance (when sampled)."""
    out: dict[str, dict[str, float]] = {}
    for difficulty, forms in sorted(record["cells"].items()):
        total = sum(c["n"] for c in forms.values())
        row = {f"{f}_rate": forms[f]["n"] / total for f in RECORD_FORMS}
        for f in FORMS:
            if forms[f]["n"]:
                row[f"{f}_accuracy"] = forms[f]["correct"] / forms[f]["n"]
                row[f"{f}_compliance"] = compliance(forms[f], limit)
                row[f"{f}_n"] = forms[f]["n"]
        out[difficulty] = row
    return out


def record_point(record: dict, shares: dict[str, float], limit: int) -> tuple[float, float]:
    """The recorded policy's own expected (accuracy, compliance): every form, ``other`` included."""
    total = sum(shares.values())
    acc = ok = 0.0
    for difficulty, share in shares.items():
        forms = record["cells"][difficulty].values()
        n = sum(c["n"] for c in forms)
        acc += share / total * sum(c["correct"] for c in forms) / n
        ok += share / total * sum(compliance(c, limit) * c["n"] for c in forms if c["n"]) / n
    return acc, ok


def achievable_means(record: dict, shares: dict[str, float], limit: int) -> np.ndarray:
    """(C, N, 2) per-difficulty form points, scaled so that workbench/sim/front.py's Minkowski *average*
    over the C difficulties becomes the share-weighted sum: conv(s * P) = s * conv(P) for s > 0."""
    shares = {d: s for d, s in shares.items() if s > 0}
    total = sum(shares.values())
    if not shares or total <= 0:
        raise ValueError("the front needs at least one difficulty with a positive share")
    points = []
    for difficulty in sorted(shares):
        forms = record["cells"].get(difficulty, {})
        pts = [(forms[f]["correct"] / forms[f]["n"], compliance(forms[f], limit)) for f in FORMS
               if forms.get(f, {}).get("n")]
        if not pts:
            raise ValueError(f"the property record has no direct or worked completion for difficulty "
                             f"{difficulty!r}: the front is unknown there")
        points.append(pts + [pts[-1]] * (len(FORMS) - len(pts)))  # equal N per context; a repeat adds nothing
    means = np.asarray(points, dtype=np.float64)
    scale = np.array([len(shares) * shares[d] / total for d in sorted(shares)])
    return means * scale[:, None, None]


def front_vertices(record: dict, shares: dict[str, float], limit: int) -> np.ndarray:
    """The front's vertices (V, 2) as (accuracy, compliance), accuracy ascending."""
    from workbench.sim.front import front_2d

    return front_2d(achievable_means(record, shares, limit))


def accuracy_gap(record: dict, shares: dict[str, float], limit: int, accuracy: float, compliance_: float) -> float:
    """The front's accuracy at the point's compliance minus the point's accuracy (0 on the front).

    Unlike ``front_distance``, which is capped by the compliance still to gain (a policy that answers
    everything short and wrong sits near compliance 1 and so near distance 0), this reads how much
    accuracy the policy gives up for its compliance. A compliance above the front's highest (sampling
    noise in the record) is read at the front's top vertex.
    """
    v = front_vertices(record, shares, limit)
    # compliance falls as accuracy rises along the front: interpolate accuracy on ascending compliance
    return float(np.interp(compliance_, v[::-1, 1], v[::-1, 0]) - accuracy)


def front_distance(record: dict, shares: dict[str, float], limit: int, accuracy: float, compliance_: float) -> float:
    """max t such that (accuracy + t, compliance + t) is achievable: 0 on the front, > 0 inside it."""
    from workbench.sim.front import front_distance as lp_distance

    return lp_distance(achievable_means(record, shares, limit), [accuracy, compliance_])

