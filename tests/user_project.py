"""Helpers for the tests of a user's own experiment (no tests here): a project folder written as a user would,
and a fixture that keeps the registries and sys.modules as they were, so one test's plug-ins never leak."""
from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arith-project"

REWARDS = '''
import math


def has_digit(prompts, completions, **kwargs):
    return [1.0 if any(ch.isdigit() for ch in str(c)) else 0.0 for c in completions]


def echo_answer(prompts, completions, answer, **kwargs):
    return [1.0 if str(a) in str(c) else 0.0 for c, a in zip(completions, answer)]


def sometimes_missing(prompts, completions, **kwargs):
    return [None if i % 2 else float("nan") if i % 3 == 0 else 0.5 for i, _ in enumerate(completions)]


def raises_on_empty(prompts, completions, **kwargs):
    return [1.0 / len(c) for c in completions]


def wrong_length(prompts, completions, **kwargs):
    return [1.0]


def returns_text(prompts, completions, **kwargs):
    return ["good" for _ in completions]


def returns_inf(prompts, completions, **kwargs):
    return [math.inf for _ in completions]


def no_kwargs(prompts, completions):
    return [0.0 for _ in completions]


async def async_digit(prompts, completions, **kwargs):
    return [1.0 if any(ch.isdigit() for ch in str(c)) else 0.0 for c in completions]


NOT_A_FUNCTION = 3
'''


def write_rows(path: Path, n: int = 20, chat: bool = False, key: str = "prompt") -> Path:
    rows = []
    for i in range(n):
        prompt = f"{i}+{i + 1}="
        rows.append({key: [{"role": "user", "content": prompt}] if chat else prompt, "answer": str(2 * i + 1)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_module(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def isolated_registries(monkeypatch):
    """Restore the estimator and task registries and forget the modules a test imported from its folder."""
    from workbench.advantages import base as adv_base
    from workbench.tasks import registry as task_registry

    estimators, stateful = dict(adv_base._REGISTRY), set(adv_base._STATEFUL)
    builders = dict(task_registry._BUILDERS)
    modules, path = set(sys.modules), list(sys.path)
    yield
    adv_base._REGISTRY.clear()
    adv_base._REGISTRY.update(estimators)
    adv_base._STATEFUL.clear()
    adv_base._STATEFUL.update(stateful)
    task_registry._BUILDERS.clear()
    task_registry._BUILDERS.update(builders)
    added = [p for p in sys.path if p not in path]  # the test's folders (plug-ins, reward modules)
    for name in set(sys.modules) - modules:
        where = getattr(sys.modules[name], "__file__", None) or ""
        if any(where.startswith(folder) for folder in added):
            sys.modules.pop(name, None)
    sys.path[:] = path


@pytest.fixture
def project(tmp_path, monkeypatch, isolated_registries) -> Path:
    """A user's folder (the working directory): prompts.jsonl and user_rewards_mod.py."""
    folder = tmp_path / "proj"
    folder.mkdir()
    write_rows(folder / "prompts.jsonl")
    write_module(folder, "user_rewards_mod", REWARDS)
    monkeypatch.chdir(folder)
    return folder


def custom_task_cfg(**over) -> dict:
    """conf/task/custom.yaml as a dict with the project's data and rewards, plus dotted overrides."""
    from tests.conftest import conf_node

    cfg = conf_node("task", "custom")
    cfg["data"]["path"] = "prompts.jsonl"
    cfg["rewards"] = ["user_rewards_mod.has_digit", "user_rewards_mod.echo_answer"]
    for key, value in over.items():
        node = cfg
        *parts, last = key.split(".")
        for part in parts:
            node = node[part]
        node[last] = value
    return cfg
