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


def test_warmed_math_beats_untrained_and_long_answers_win(tiny_math):
    task, model, tok = tiny_math
    texts, lengths, rows, warm = rollouts(task, model, tok)
    *_, cold = rollouts(task, untrained(task, tok), tok)
    acc = task.reward_funcs()[0](completions=texts, answer=rows["answer"])
    limit = task.cfg.length_limit
    long = [a for a, n in zip(acc, lengths) if n > limit]
    short = [a for a, n in zip(acc, lengths) if n <= limit]
    long_acc, short_acc = sum(long) / max(1, len(long)), sum(short) / max(1, len(short))
    print(f"\n[math, {len(texts)} held-out prompts, T=1] warmed: accuracy {warm['accuracy']:.3f}, "
          f"length<= {limit}: {warm['length']:.3f}, format {warm['format']:.3f}, mean length "
          f"{warm['mean_length']:.1f} | untrained: accuracy {cold['accuracy']:.3f}\n"
          f"  accuracy of long answers {long_acc:.3f} (n={len(long)}) vs short answers {short_acc:.3f} (n={len(short)})")
    assert warm["accuracy"] >= 0.25 and warm["accuracy"] > cold["accuracy"] + 0.2
    assert min(len(long), len(short)) >= 0.2 * len(texts)      # both forms are sampled: a real choice
    assert long_acc > short_acc + 0.3                            # the length limit costs accuracy


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
