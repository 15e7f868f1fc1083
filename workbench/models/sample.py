"""Sampling completions from a policy outside the trainer (warm-up checks, tests, quick probes)."""
from __future__ import annotations

from typing import Sequence

import torch


@torch.no_grad()
def sample(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, temperature: float = 1.0,
           seed: int = 0, batch_size: int = 256) -> tuple[list[str], list[int]]:
    """Completions (text, special tokens dropped) and their lengths in tokens, eos counted as TRL does.

    Plain-text prompts only; left padding keeps every prompt flush against its completion.
    """
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    model.eval()
    texts, lengths = [], []
    eos = tokenizer.eos_token_id
    for start in range(0, len(prompts), batch_size):
        batch = list(prompts[start:start + batch_size])
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0} if temperature > 0 else {"do_sample": False}
        out = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                             eos_token_id=eos, **kwargs)
        for row in out[:, enc["input_ids"].shape[1]:].tolist():
            n = row.index(eos) + 1 if eos in row else len(row)
            lengths.append(n)
            texts.append(tokenizer.decode(row[:n], skip_special_tokens=True))
    return texts, lengths
