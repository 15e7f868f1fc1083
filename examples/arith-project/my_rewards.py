"""Reward functions of the arith project, in TRL's signature: f(prompts, completions, **kwargs) -> one float (or
None: missing) per completion. Dataset columns other than the prompt arrive as keyword arguments (`answer`), the
sampled token ids as `completion_ids`."""
import re


def correct(prompts, completions, answer, **kwargs):
    """1 when the completion's last number is the sum, 0 otherwise; None (missing) when it holds no number."""
    out = []
    for text, truth in zip(completions, answer):
        numbers = re.findall(r"\d+", text)
        out.append(float(int(numbers[-1]) == int(truth)) if numbers else None)
    return out


def brief(prompts, completions, completion_ids, **kwargs):
    """1 when the completion takes at most 12 tokens (end of sequence included), else 0."""
    return [1.0 if len(ids) <= 12 else 0.0 for ids in completion_ids]


def shows_work(prompts, completions, **kwargs):
    """1 when the completion shows intermediate steps (more than one number before the answer), else 0."""
    return [1.0 if len(re.findall(r"\d+", text)) > 2 else 0.0 for text in completions]
