"""Shared fixtures. The tiny warmed models are built once per machine (cached under DVAO_CACHE) and
loaded fresh for every test that asks, so a test that trains its copy cannot disturb another."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"


def conf_node(group: str, name: str) -> dict:
    """A config group's yaml as a plain dict (what Hydra puts under cfg.<group>)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"), resolve=True)


def task_with(name: str, **over):
    """Build conf/task/<name>.yaml with dotted overrides, e.g. ``task_with("math", **{"data.n_eval": 5})``."""
    from workbench import tasks

    cfg = conf_node("task", name)
    for key, value in over.items():
        node = cfg
        *path, last = key.split(".")
        for part in path:
            node = node[part]
        node[last] = value
    return tasks.build(cfg)


@pytest.fixture(scope="session")
def tiny_cache() -> Path:
    """The tiny-model cache dir (DVAO_CACHE, else ~/.cache/dvao-workbench): persistent on purpose, so
    the ~3-minute warm-up is paid once per machine, not once per test session."""
    from workbench.models.tiny import cache_root

    root = cache_root()
    os.environ["DVAO_CACHE"] = str(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _tiny_dir(task_name: str) -> Path:
    from workbench import models, tasks
    from workbench.models.tiny import build_tiny

    task = tasks.build(conf_node("task", task_name))
    return build_tiny(models.parse(conf_node("model", "tiny")), task)


def _fresh(task_name: str, model_dir: Path):
    from workbench import tasks
    from workbench.models.tiny import load_dir

    model, tokenizer = load_dir(model_dir)
    return tasks.build(conf_node("task", task_name)), model, tokenizer


@pytest.fixture(scope="session")
def tiny_math_dir(tiny_cache) -> Path:
    """Directory of the warmed tiny model for conf/task/math.yaml (built on first use)."""
    return _tiny_dir("math")


@pytest.fixture
def tiny_math(tiny_math_dir):
    """(task, model, tokenizer): the math task and a fresh copy of its warmed tiny model."""
    return _fresh("math", tiny_math_dir)


@pytest.fixture(scope="session")
def tiny_tool_dir(tiny_cache) -> Path:
    """Directory of the warmed tiny model for conf/task/tool.yaml (built on first use)."""
    return _tiny_dir("tool")


@pytest.fixture
def tiny_tool(tiny_tool_dir):
    """(task, model, tokenizer): the tool task and a fresh copy of its warmed tiny model."""
    return _fresh("tool", tiny_tool_dir)
