"""The warmed tiny models against untrained ones, on held-out prompts, with the figures printed.

The math model is built once per machine through the session fixture (cached: later sessions load
it in a second); the tool model is a second ~3-minute build, so its test is marked slow.
"""
from __future__ import annotations

import pytest

from tests.conftest import conf_node
from workbench import models
from workbench.models import tiny
from workbench.models.sample import sample


def rollouts(task, model, tokenizer, seed=0):
    ev = task.eval_dataset()
    max_new = conf_node("model", "tiny")["max_completion_length"]
    texts, lengths = sample(model, tokenizer, ev["prompt"], max_new, temperature=1.0, seed=seed)
    rows = {c: ev[c] for c in ev.column_names if c != "prompt"}
    return texts, lengths, rows, task.evaluate(ev["prompt"], texts, rows, lengths)


def untrained(task, tokenizer):
    return tiny.fresh_model(models.parse(conf_node("model", "tiny")), tokenizer, seed=0)


def test_warmed_math_record_places_the_policy_inside_its_front(tiny_math_dir, tiny_math):
    import json

    from workbench.tasks import math_front as F
    from workbench.tasks.math_report import report

    task, model, tok = tiny_math
    record = json.loads((tiny_math_dir / tiny.INFO).read_text())["properties"]
    assert model.config.property_record == record
    limit = task.cfg.length_limit
    props = F.properties(record, limit)
    held = task._eval
    shares = {d: sum(r["difficulty"] == d for r in held) / len(held) for d in ("easy", "hard")}
    print(f"\n[math property record, {record['prompts']} held-out prompts x {record['samples']} samples]\n"
          + report(record, shares, limit))
    for d in ("easy", "hard"):
        p = props[d]
        assert 0.2 <= p["worked_rate"] <= 0.8 and 0.2 <= p["direct_rate"] <= 0.8   # both forms in use: RL has room
        assert p["direct_compliance"] >= 0.98 and p["worked_compliance"] <= 0.02   # only the direct form fits
        assert p["worked_accuracy"] >= 0.8                                          # the worked form is reliable
    assert props["easy"]["direct_accuracy"] >= 0.75                                 # short answers work on easy ...
    assert props["hard"]["direct_accuracy"] <= 0.45                                 # ... and not on hard problems:
    assert props["hard"]["worked_accuracy"] - props["hard"]["direct_accuracy"] >= 0.3  # a real trade-off there
    assert len(F.front_vertices(record, shares, limit)) >= 2                         # a front, not a point
    assert F.front_distance(record, shares, limit, *F.record_point(record, shares, limit)) > 0.05  # strictly inside
    *_, cold = rollouts(task, untrained(task, tok), tok)
    assert cold["accuracy"] < 0.05


@pytest.mark.slow
def test_warmed_tool_has_nontrivial_rates(tiny_tool):
    task, model, tok = tiny_tool
    *_, warm = rollouts(task, model, tok)
    *_, cold = rollouts(task, untrained(task, tok), tok)
    print(f"\n[tool, {task.cfg.eval.n_prompts} held-out prompts, T=1] warmed: format {warm['format']:.3f}, "
          f"correctness {warm['correctness']:.3f}, exact {warm['exact']:.3f}, mean length "
          f"{warm['mean_length']:.1f} | untrained: format {cold['format']:.3f}, correctness {cold['correctness']:.3f}")
    assert 0.3 <= warm["format"] <= 0.97                       # room to improve, not hopeless
    assert 0.2 <= warm["correctness"] <= 0.97
    assert warm["correctness"] > cold["correctness"] + 0.2
