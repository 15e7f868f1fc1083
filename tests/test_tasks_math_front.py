"""The math test bed's known front (workbench/tasks/math_front.py) on hand-worked property records,
and the evaluation hook that reports eval/front_distance."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.conftest import task_with
from workbench import metrics as M
from workbench.tasks import math_front as F


def cell(n, correct, tokens):
    return {"n": n, "correct": correct, "lengths": {str(tokens): n}}


# easy: both forms 90% right; hard: direct 10%, worked 70%. Direct answers fit a 12-token limit, worked do not.
RECORD = {"temperature": 1.0, "top_p": 1.0, "cells": {
    "easy": {"direct": cell(10, 9, 11), "worked": cell(10, 9, 17), "other": cell(5, 0, 9)},
    "hard": {"direct": cell(10, 1, 12), "worked": cell(10, 7, 20), "other": {"n": 0, "correct": 0, "lengths": {}}},
}}
HALF = {"easy": 0.5, "hard": 0.5}


def test_front_of_a_hand_worked_record():
    # Every point answers easy problems directly; hard problems trade 0.6 accuracy for 1.0 compliance.
    np.testing.assert_allclose(F.front_vertices(RECORD, HALF, 12), [[0.5, 1.0], [0.8, 0.5]])
    np.testing.assert_allclose(F.front_vertices(RECORD, {"easy": 0.75, "hard": 0.25}, 12), [[0.7, 1.0], [0.85, 0.75]])


@pytest.mark.parametrize("point, distance", [
    ((0.6, 0.5), 0.125),      # (0.725, 0.625) is on the front: hard problems 75% worked
    ((0.65, 0.75), 0.0),      # on the front
    ((0.5, 1.0), 0.0),        # the all-direct vertex
    ((0.8, 0.6), -0.0375),    # beyond it: only if RL made a form more accurate than recorded
])
def test_front_distance_hand_cases(point, distance):
    assert F.front_distance(RECORD, HALF, 12, *point) == pytest.approx(distance, abs=1e-9)


@pytest.mark.parametrize("point, gap", [((0.6, 0.5), 0.2), ((0.65, 0.75), 0.0), ((0.2, 1.0), 0.3), ((0.9, 0.6), -0.16)])
def test_accuracy_gap_reads_the_front_at_the_same_compliance(point, gap):
    assert F.accuracy_gap(RECORD, HALF, 12, *point) == pytest.approx(gap)


def test_accuracy_gap_outside_the_fronts_compliance_range_reads_its_end_vertices():
    # At 11 tokens hard direct answers (12 tokens) no longer fit: the front is the one point (0.8, 0.5).
    np.testing.assert_allclose(F.front_vertices(RECORD, HALF, 11), [[0.8, 0.5]])
    assert F.accuracy_gap(RECORD, HALF, 11, 0.5, 0.6) == pytest.approx(0.3)   # above it: the top vertex
    assert F.accuracy_gap(RECORD, HALF, 11, 0.5, 0.2) == pytest.approx(0.3)   # below it: the best accuracy


def test_the_length_limit_is_applied_to_the_recorded_lengths():
    # At 20 tokens the worked form fits too: answering hard problems worked is then free, one point is the front.
    np.testing.assert_allclose(F.front_vertices(RECORD, HALF, 20), [[0.8, 1.0]])
    props = F.properties(RECORD, 17)
    assert props["easy"]["worked_compliance"] == 1.0 and props["hard"]["worked_compliance"] == 0.0
    assert props["easy"]["other_rate"] == pytest.approx(0.2) and props["hard"]["direct_accuracy"] == pytest.approx(0.1)


def test_a_difficulty_without_either_form_has_no_front():
    empty = {"cells": {"easy": {f: {"n": 0, "correct": 0, "lengths": {}} for f in F.RECORD_FORMS}}}
    with pytest.raises(ValueError, match="no direct or worked completion for difficulty 'easy'"):
        F.front_distance(empty, {"easy": 1.0}, 12, 0.5, 0.5)
    with pytest.raises(ValueError, match="positive share"):
        F.front_vertices(RECORD, {"easy": 0.0}, 12)


def test_tally_sorts_completions_into_difficulty_and_form():
    texts = ["Answer:5", "Answer:6", "1 05 Answer:5", "= 5", "3 12 08 05 Answer:582"]
    cells = F.tally(texts, [9, 9, 12, 4, 20], ["5", "5", "5", "5", "582"], ["easy"] * 4 + ["hard"])
    assert cells["easy"]["direct"] == {"n": 2, "correct": 1, "lengths": {"9": 2}}
    assert cells["easy"]["worked"]["correct"] == 1 and cells["easy"]["other"]["n"] == 1
    assert cells["hard"]["worked"] == {"n": 1, "correct": 1, "lengths": {"20": 1}} and cells["hard"]["direct"]["n"] == 0


class Policy:
    """Stands in for a model in the hook: only its config (with or without a record) is read."""

    def __init__(self, record):
        self.config = type("Config", (), {"property_record": record})()


def test_policy_metrics_hook_reports_the_front_distance(caplog):
    t = task_with("math", **{"data.n_train": 100, "data.n_eval": 40})
    rows = {"answer": ["1"] * 4, "difficulty": ["easy", "hard", "easy", "hard"]}
    scores = {"accuracy": 0.6, "length": 0.5}
    assert t.policy_metrics(Policy(RECORD), rows, scores) == {"front_distance": pytest.approx(0.125),
                                                              "front_accuracy_gap": pytest.approx(0.2)}
    assert t.policy_metrics(Policy(None), rows, scores) == {}
    assert t.policy_metrics(Policy(RECORD), {"answer": ["1"]}, scores) == {}      # real data: no difficulty column
    cold = task_with("math", **{"data.n_train": 100, "data.n_eval": 40, "eval.temperature": 0.6})
    with caplog.at_level(logging.WARNING):
        assert cold.policy_metrics(Policy(RECORD), rows, scores) == {}
    assert "sampled at temperature 1.0" in caplog.text
    broken = {"temperature": 1.0, "top_p": 1.0, "cells": {"easy": {}}}          # no forms, no hard cells
    assert t.policy_metrics(Policy(broken), rows, scores) == {}


def test_evaluate_adds_the_hook_metrics_to_the_eval_keys(tiny_math):
    from workbench.train.evaluate import EvalSettings, evaluate

    import torch

    task, model, tokenizer = tiny_math
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 threads on 2 shared cores spin-wait (README: several times slower)
    try:
        out = evaluate(model, tokenizer, task, task.eval_dataset(), EvalSettings(prompts=48, max_new_tokens=24))
    finally:
        torch.set_num_threads(threads)
    record = model.config.property_record
    ev = task.eval_dataset().select(range(48))
    shares = {d: ev["difficulty"].count(d) / 48 for d in ("easy", "hard")}
    expected = F.front_distance(record, shares, task.cfg.length_limit, out[M.eval_metric("accuracy")],
                                out[M.eval_metric("length")])
    assert out[M.eval_metric("front_distance")] == pytest.approx(expected)
    assert {M.eval_metric(k) for k in ("easy/worked_rate", "hard/worked_rate")} <= set(out)
