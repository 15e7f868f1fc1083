"""Policies: ``build(model_cfg, task) -> (model, tokenizer)``.

``kind: tiny`` builds (or reuses from the cache) the warmed tiny Qwen2 model for ``task``;
``kind: hf`` loads a real model by hub name or local ``path``.
"""
from __future__ import annotations

from workbench.models.config import ModelConfig, parse


def build(model_cfg, task, progress: bool = True):
    """(model, tokenizer) for the Hydra ``model`` node (or a dict) and a built task. A task with a
    ``use_tokenizer(tokenizer)`` method gets the tokenizer before its datasets are read: BFCL renders its
    prompts through the model's chat template with each row's tools (workbench/tasks/bfcl_data.py)."""
    cfg = parse(model_cfg)
    if cfg.kind == "tiny":
        from workbench.models.tiny import build_tiny, load_dir

        model, tokenizer = load_dir(build_tiny(cfg, task, progress))
    else:
        from workbench.models.hf import load_hf

        model, tokenizer = load_hf(cfg)
    if hasattr(task, "use_tokenizer"):
        task.use_tokenizer(tokenizer)
    return model, tokenizer


__all__ = ["ModelConfig", "build", "parse"]
