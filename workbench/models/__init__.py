"""Policies: ``build(model_cfg, task) -> (model, tokenizer)``.

``kind: tiny`` builds (or reuses from the cache) the warmed tiny Qwen2 model for ``task``;
``kind: hf`` loads a real model by hub name or local ``path``.
"""
from __future__ import annotations

from workbench.models.config import ModelConfig, parse


def build(model_cfg, task, progress: bool = True):
    """(model, tokenizer) for the Hydra ``model`` node (or a dict) and a built task."""
    cfg = parse(model_cfg)
    if cfg.kind == "tiny":
        from workbench.models.tiny import build_tiny, load_dir

        return load_dir(build_tiny(cfg, task, progress))
    from workbench.models.hf import load_hf

    return load_hf(cfg)


__all__ = ["ModelConfig", "build", "parse"]
