"""Shared helpers for the training tests (no tests here): compose the real conf/ and run it small."""
from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir

from workbench.train.config import CONF_DIR

# A few-step run of the project's default task and tiny model: 2 prompts x G=4 per step, eval on 8
# held-out prompts only at the end, one torch thread (2 shared cores: more threads only spin).
FAST = ["G=4", "steps=2", "train.prompts_per_step=2", "train.save_every=2", "eval.every=0",
        "++task.eval.n_prompts=8", "logger=none", "threads=1"]


def compose_cfg(overrides: list[str] = ()):
    """The composed Hydra config for ``python -m workbench.run <overrides>``."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def fast_cfg(run_dir: Path, *overrides: str):
    return compose_cfg(FAST + [f"run_dir={run_dir}", *overrides])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
