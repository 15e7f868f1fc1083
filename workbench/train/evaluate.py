"""Held-out evaluation: sample completions on the task's eval split, score them with task.evaluate.

The returned keys are ``workbench.metrics.eval_metric(name)`` for every metric the task reports
(``task.evaluate`` on the completions, plus ``task.policy_metrics`` where a task has it); the task's
``eval_axes`` among them are the Pareto axes analysis uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from workbench import metrics as M


@dataclass(frozen=True)
class EvalSettings:
    prompts: int = 64            # first N held-out prompts
    samples: int = 1             # completions per prompt
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 64         # prompts per generate() call
    seed: int = 0                # sampling seed; the caller's RNG state is left untouched


def _eos_ids(model, tokenizer) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    if eos is None:
        eos = tokenizer.eos_token_id
    return set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}


def _prompt_ids(tokenizer, prompt: Any) -> list[int]:
    if isinstance(prompt, str):  # TRL tokenises plain-text prompts the same way
        return tokenizer(text=prompt)["input_ids"]
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[Any], s: EvalSettings) -> tuple[list[str], list[int]]:
    """Sample one completion per prompt: decoded texts and token lengths (up to and including EOS)."""
    device = next(model.parameters()).device
    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else next(iter(eos), 0)
    texts: list[str] = []
    lengths: list[int] = []
    for start in range(0, len(prompts), s.batch_size):
        ids = [_prompt_ids(tokenizer, p) for p in prompts[start:start + s.batch_size]]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([[pad] * (width - len(x)) + list(x) for x in ids], device=device)
        attention = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
        sampling = dict(do_sample=True, temperature=s.temperature, top_k=0, top_p=s.top_p) if s.temperature > 0 \
            else dict(do_sample=False)  # temperature 0: greedy
        out = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=s.max_new_tokens,
                             pad_token_id=pad, eos_token_id=sorted(eos) or None, **sampling)
        for row in out[:, width:].tolist():
            cut = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            lengths.append(cut)
            texts.append(tokenizer.decode(row[:cut], skip_special_tokens=True))
    return texts, lengths


def evaluate(model, tokenizer, task, dataset, s: EvalSettings) -> dict[str, float]:
    """Held-out metrics (``eval/<name>`` keys) of ``model`` on the first ``s.prompts`` rows of ``dataset``."""
    n = min(s.prompts, len(dataset))
    if n == 0:
        raise ValueError(f"task {task.name!r} has an empty eval split: nothing to evaluate on.")
    columns = dataset.select(range(n)).to_dict()
    rows = {k: [v for v in vals for _ in range(s.samples)] for k, vals in columns.items()}
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # evaluation must not shift the training RNG (resume parity)
            torch.manual_seed(s.seed)
            completions, lengths = generate(model, tokenizer, rows["prompt"], s)
    finally:
        model.train(was_training)
    scores = task.evaluate(rows["prompt"], completions, rows, lengths)
    if hasattr(task, "policy_metrics"):  # metrics that need the policy itself, e.g. math's eval/front_distance
        scores.update(task.policy_metrics(model, rows, scores))
    missing = [a.name for a in task.eval_axes if a.name not in scores]
    if missing:
        raise ValueError(f"task {task.name!r}.evaluate returned no value for eval axes {missing}.")
    return {M.eval_metric(k): float(v) for k, v in scores.items()}
