"""Real models by hub name or local directory, respecting ``HF_HUB_OFFLINE``."""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import torch

from workbench.models.config import ModelConfig

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
GPU_ONLY_ATTENTION = ("flash_attention_2", "flash_attention_3")
log = logging.getLogger(__name__)


def for_device(cfg: ModelConfig, gpu: bool | None = None) -> ModelConfig:
    """``cfg`` as it can load here: without a GPU (or with ``use_cpu``) the weights are fp32 (the
    trainer's bf16/fp16 flags are off there, so half-precision weights would meet fp32 training) and
    flash attention falls back to sdpa. Each change is logged."""
    gpu = torch.cuda.is_available() and not cfg.use_cpu if gpu is None else gpu
    if gpu:
        return cfg
    changes = {}
    if cfg.dtype != "fp32":
        changes["dtype"] = "fp32"
    if cfg.attn_implementation in GPU_ONLY_ATTENTION:
        changes["attn_implementation"] = "sdpa"
    if changes:
        log.info("model %s on CPU: %s", cfg.name, ", ".join(f"{k} {getattr(cfg, k)} -> {v}" for k, v in changes.items()))
    return dataclasses.replace(cfg, **changes)


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "", "false", "no")


def load_tokenizer(source: str, **kwargs):
    """The tokenizer at ``source``. A directory whose tokenizer_config.json names the generic fast
    class (as our tiny models' do) is loaded as that class: AutoTokenizer would otherwise pick the
    model type's tokenizer (Qwen2Tokenizer), whose own pre-tokenizer drops spaces."""
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    config = Path(source) / "tokenizer_config.json"
    if config.is_file():
        declared = json.loads(config.read_text()).get("tokenizer_class")
        if declared in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            return PreTrainedTokenizerFast.from_pretrained(source, **kwargs)
    return AutoTokenizer.from_pretrained(source, **kwargs)


def model_source(cfg: ModelConfig) -> str:
    """What ``from_pretrained`` loads: ``model.path`` (relative to the folder the command started in) when
    set, else ``model.hub_name``. A path must be a folder ``save_pretrained`` wrote (config.json inside)."""
    if cfg.path is None:
        return cfg.hub_name
    from workbench.plugins import launch_dir

    source = Path(cfg.path).expanduser()
    source = source if source.is_absolute() else launch_dir() / source
    if not (source / "config.json").is_file():
        raise FileNotFoundError(f"model.path={cfg.path}: expected a Hugging Face model folder at {source} (config.json, "
                                "weights and tokenizer files, as save_pretrained writes)")
    return str(source)


def load_hf(cfg: ModelConfig):
    """(model, tokenizer) from ``cfg.path`` (a local directory) or ``cfg.hub_name``.

    Offline, a hub name must already be in the local HF cache; otherwise the error says to set
    ``model.path``. A tokenizer without a pad token gets its eos token as pad (TRL needs one).
    Without a GPU the CPU settings of ``for_device`` apply.
    """
    from transformers import AutoModelForCausalLM

    cfg = for_device(cfg)
    source = model_source(cfg)
    extra = {"attn_implementation": cfg.attn_implementation} if cfg.attn_implementation else {}
    try:
        tokenizer = load_tokenizer(source, local_files_only=offline())
        model = AutoModelForCausalLM.from_pretrained(source, dtype=DTYPES[cfg.dtype],
                                                     local_files_only=offline(), **extra)
    except OSError as err:
        if offline() and cfg.path is None:
            raise OSError(f"model {cfg.name!r}: {source!r} is not in the local Hugging Face cache and "
                          "HF_HUB_OFFLINE=1; download it where a network exists and set "
                          f"model.path=/dir/with/the/model ({err})") from err
        raise
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
