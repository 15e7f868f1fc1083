"""A randomly initialised model of a real architecture with a real-style tokenizer, built offline.

    python -m workbench.models.random_real --arch qwen3 --out /tmp/qwen3-random
    python -m workbench.run model=qwen3-4b-base model.path=/tmp/qwen3-random task.data.source=dapo ...

It runs the real-model code path (``kind: hf``: AutoTokenizer, AutoModelForCausalLM, chat
template, left padding, dtype handling) without a hub: a smoke test of a cluster setup, and what
the tests train. Only the sizes are small; the pieces are those of the Qwen checkpoints:

- the model: ``Qwen2ForCausalLM`` (Qwen2.5) or ``Qwen3ForCausalLM`` (Qwen3), grouped-query
  attention, tied embeddings, random weights from ``seed``;
- the tokenizer: transformers' own ``Qwen2Tokenizer`` class (what AutoTokenizer loads for Qwen2.5
  and Qwen3) around a byte-level BPE trained here with ``tokenizers`` on ``corpus``, with Qwen's
  pre-tokenizer regex and special tokens ``<|endoftext|>`` (pad), ``<|im_start|>``, ``<|im_end|>``,
  and a ChatML chat template. As in the released models, eos is ``<|im_end|>`` for the Qwen2.5
  (Instruct) build and ``<|endoftext|>`` for the Qwen3 (Base) build; generation stops at either.
"""
from __future__ import annotations

import argparse
import json
import string
from dataclasses import dataclass
from pathlib import Path

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
ARCHS = ("qwen2", "qwen3")
# Qwen-style ChatML (no default system prompt, no tool or <think> handling).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# Enough text for a few hundred merges covering digits, maths, tool calls and chat roles.
DEFAULT_CORPUS = [
    string.printable,
    "system user assistant: Solve the problem. Remember to put your final answer after Answer:",
    "What is 123 + 459? Let's think step by step. 3 + 9 = 12, carry 1. Answer: 582. \\boxed{582}",
    'Tools: get_weather(city), search(query). <think>The user wants the weather.</think>'
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call><response>Done.</response>',
] * 4


@dataclass(frozen=True)
class RandomArch:
    """Sizes of the random model (defaults: 2 layers, 64 wide; ~60K parameters)."""

    arch: str = "qwen2"              # qwen2 (Qwen2.5 family) | qwen3 (Qwen3 family: q/k norms, explicit head_dim)
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2            # grouped-query attention, as in the real checkpoints
    intermediate_size: int = 128
    max_positions: int = 4096
    vocab_size: int = 512            # BPE target; the corpus may yield fewer
    padded_vocab: int | None = None  # embedding rows when more than the tokenizer's (Qwen2.5: 151,936 for a 151,665-token
                                     # tokenizer); ids past the tokenizer decode to nothing. The size that sets the
                                     # logits' memory and time at real scale.
    seed: int = 0

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch={self.arch!r}: valid architectures are {list(ARCHS)}")
        if self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError("hidden_size must be a multiple of num_heads, and num_heads of num_kv_heads")


# Qwen2.5-0.5B(-Instruct)'s sizes (its config.json): 494M parameters, 136M of them the tied embedding.
QWEN25_05B = RandomArch(arch="qwen2", hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2,
                        intermediate_size=4864, max_positions=32768, padded_vocab=151936)


def build_tokenizer(arch: str = "qwen2", corpus: list[str] | None = None, vocab_size: int = 512):
    """A ``Qwen2Tokenizer`` with a byte-level BPE trained on ``corpus`` and a ChatML template."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    core = Tokenizer(models.BPE())
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.Sequence([  # Qwen2Tokenizer's own pre-tokenizer
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[ENDOFTEXT, IM_START, IM_END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(corpus or DEFAULT_CORPUS, trainer)
    trained = json.loads(core.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
    eos = IM_END if arch == "qwen2" else ENDOFTEXT
    tok = Qwen2Tokenizer(vocab=trained["vocab"], merges=merges, eos_token=eos, pad_token=ENDOFTEXT, unk_token=None)
    tok.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(a: RandomArch, tokenizer):
    """A random ``Qwen2ForCausalLM`` / ``Qwen3ForCausalLM`` sized by ``a`` for ``tokenizer`` (fp32)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

    config_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if a.arch == "qwen2" else (Qwen3Config, Qwen3ForCausalLM)
    stops = [tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT)]
    if a.padded_vocab is not None and a.padded_vocab < len(tokenizer):
        raise ValueError(f"padded_vocab={a.padded_vocab} is smaller than the tokenizer ({len(tokenizer)} tokens)")
    config = config_cls(vocab_size=a.padded_vocab or len(tokenizer), hidden_size=a.hidden_size, num_hidden_layers=a.num_layers,
                        num_attention_heads=a.num_heads, num_key_value_heads=a.num_kv_heads,
                        head_dim=a.hidden_size // a.num_heads, intermediate_size=a.intermediate_size,
                        max_position_embeddings=a.max_positions, tie_word_embeddings=True,
                        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(a.seed)
    model = model_cls(config)
    model.generation_config.eos_token_id = stops  # as the released checkpoints' generation_config.json
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def save_random_real(out: str | Path, a: RandomArch = RandomArch(), corpus: list[str] | None = None,
                     dtype=None) -> Path:
    """Build and ``save_pretrained`` the model and tokenizer into ``out`` (created; must be empty or absent).
    ``dtype``: a torch dtype to save the weights in (default fp32; bf16 halves a large model's file)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: choose a new directory for the random model")
    tokenizer = build_tokenizer(a.arch, corpus, a.vocab_size)
    model = build_model(a, tokenizer)
    if dtype is not None:
        model = model.to(dtype)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="new directory for the model and tokenizer")
    parser.add_argument("--arch", choices=ARCHS, default="qwen2")
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    path = save_random_real(args.out, RandomArch(arch=args.arch, hidden_size=args.hidden_size,
                                                 num_layers=args.layers, seed=args.seed))
    print(f"saved a random {args.arch} model to {path}; use it with model=<a real model yaml> model.path={path}")


if __name__ == "__main__":
    main()
