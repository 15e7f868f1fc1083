"""Typed task options: nested dataclasses filled from the Hydra ``task`` node, unknown keys rejected.

Hydra hands over a ``DictConfig``; tests hand plain dicts. Both go through ``from_mapping``, which
checks every key against the dataclass so a typo (``lenght_limit``) fails at start-up with the list of
valid keys instead of being silently ignored.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping


def to_dict(cfg: Any) -> dict:
    """A plain ``dict`` from a DictConfig, a dataclass or a mapping (resolving interpolations)."""
    if cfg is None:
        return {}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf ships with hydra-core
        pass
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"expected a mapping or DictConfig for the config, got {type(cfg).__name__}")


def from_mapping(cls, data: Mapping[str, Any] | None, where: str):
    """Instantiate dataclass ``cls`` from ``data``; nested dataclass fields recurse.

    ``where`` names the config node in error messages (e.g. ``task.data``).
    """
    data = to_dict(data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; valid options: {sorted(fields)}")
    kwargs = {}
    for name, value in data.items():
        sub = hints[name]
        if dataclasses.is_dataclass(sub):
            if not (isinstance(value, Mapping) or dataclasses.is_dataclass(value) or hasattr(value, "keys")):
                keys = ", ".join(f"{f.name}: ..." for f in dataclasses.fields(sub))
                raise ValueError(f"{where}.{name}={value!r} must be a mapping like {{{keys}}}")
            value = from_mapping(sub, value, f"{where}.{name}")
        kwargs[name] = value
    return cls(**kwargs)


def check(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition``: config validation with a fix in the text."""
    if not condition:
        raise ValueError(message)


@dataclasses.dataclass
class EvalOptions:
    """How held-out completions are sampled (the papers: avg@16, temperature 0.6, top-p 0.95)."""

    n_prompts: int = 200       # held-out prompts evaluated (the first n of the eval split)
    n_samples: int = 1         # completions sampled per prompt (avg@n)
    temperature: float = 1.0   # sampling temperature at evaluation
    top_p: float = 1.0         # nucleus sampling at evaluation

    def __post_init__(self):
        check(self.n_prompts > 0 and self.n_samples > 0, "task.eval: n_prompts and n_samples must be positive")
        check(self.temperature >= 0 and 0 < self.top_p <= 1, "task.eval: need temperature >= 0 and 0 < top_p <= 1")
