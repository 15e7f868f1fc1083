"""A character-level ``PreTrainedTokenizerFast`` built locally from the task's texts.

Every character seen in the task's texts is one token; strings from ``task.vocab_tokens()`` (tool
tags, JSON glue) are extra whole tokens, as real tokenizers treat ``<tool_call>``. They are ordinary
(non-special) added tokens so decoding with ``skip_special_tokens=True`` keeps them in the text.
``<eos>`` ends every demonstration, so TRL's generation stops there; ``<pad>`` is separate.
"""
from __future__ import annotations

from typing import Iterable

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def build_char_tokenizer(texts: Iterable[str], whole_tokens: Iterable[str] = ()):
    """Tokenizer covering every character of ``texts`` plus ``whole_tokens`` as single tokens."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    chars = sorted({ch for text in texts for ch in text})
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK] + chars)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=UNK))
    core.decoder = decoders.Fuse()  # concatenate characters back without separators
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                  padding_side="left", model_max_length=4096)
    extra = [t for t in dict.fromkeys(whole_tokens) if t not in vocab]
    if extra:
        tok.add_tokens(extra)
    return tok
