"""LoRA through TRL's ``peft_config``: the config, a check of ``target_modules`` before anything is loaded
or written, and the trainable-parameter count the run's summary states.

GRPOTrainer wraps the policy with ``peft.get_peft_model`` when it gets a ``peft_config``; its checkpoints
then hold the adapter (``adapter_model.safetensors``), resume loads it back, and evaluation samples from
the adapted policy. With ``beta > 0`` TRL's reference policy is the base model with the adapter disabled.
"""
from __future__ import annotations

from typing import Any

import torch

from workbench.models.config import LoraOptions, ModelConfig


def peft_config(opts: LoraOptions):
    """``peft.LoraConfig`` for ``opts``, or None when ``opts.r == 0`` (LoRA off)."""
    if not opts.r:
        return None
    from peft import LoraConfig

    return LoraConfig(r=opts.r, lora_alpha=opts.alpha, lora_dropout=opts.dropout, target_modules=opts.target_modules,
                      task_type="CAUSAL_LM", bias="none")


def _skeleton(cfg: ModelConfig):
    """The policy's architecture with no weights (meta device), or None when its config cannot be read here
    (a hub name that is not cached offline: the check then happens when the model loads)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if cfg.kind == "tiny":
        from transformers import Qwen2Config

        a = cfg.arch
        config = Qwen2Config(vocab_size=64, hidden_size=a.hidden_size, num_hidden_layers=a.num_layers,
                             num_attention_heads=a.num_heads, num_key_value_heads=a.num_heads,
                             intermediate_size=a.intermediate_size, max_position_embeddings=a.max_positions,
                             tie_word_embeddings=True)
    else:
        from workbench.models.hf import model_source, offline

        try:
            config = AutoConfig.from_pretrained(model_source(cfg), local_files_only=offline())
        except (OSError, ValueError):
            return None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_names(model) -> list[str]:
    """The distinct last names of the model's linear layers (what ``target_modules`` matches)."""
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(names - {"lm_head"})  # TRL never trains an adapter on the output head


def check_targets(cfg: ModelConfig) -> None:
    """Raise ValueError when ``model.lora.target_modules`` matches no module of the model, or adapts the output
    head (TRL computes log-probabilities from ``lm_head.weight`` directly, so that adapter would never train)."""
    if not cfg.lora.r:
        return
    skeleton = _skeleton(cfg)
    if skeleton is None:
        return
    from peft import get_peft_model
    from peft.tuners.tuners_utils import BaseTunerLayer

    names = linear_names(skeleton)
    with torch.device("meta"):
        try:
            wrapped = get_peft_model(skeleton, peft_config(cfg.lora))
        except ValueError as exc:
            raise ValueError(f"model.lora.target_modules={cfg.lora.target_modules!r} matches no module of model "
                             f"{cfg.name!r} ({exc}); its linear layers are {names} (or use all-linear).") from None
    if isinstance(wrapped.get_output_embeddings(), BaseTunerLayer):
        raise ValueError(f"model.lora.target_modules={cfg.lora.target_modules!r} adapts the output head lm_head, which "
                         "TRL never trains (it reads lm_head.weight directly); leave lm_head out.")


def parameter_counts(model) -> dict[str, Any]:
    """``trainable_params`` and ``total_params`` of the policy as trained (after the adapter is added)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable_params": int(trainable), "total_params": int(total)}
