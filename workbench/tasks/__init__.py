"""Tasks: prompts, named reward functions (the objectives) and held-out evaluation.

    task = workbench.tasks.build(cfg.task)     # cfg.task: the Hydra `task` node or a dict
    workbench.tasks.names()                    # ['custom', 'math', 'tool'] (+ plug-ins' tasks)
"""
from workbench.tasks.base import EvalAxis, RewardFn, Task
from workbench.tasks.registry import build, names, register

# Importing the task modules registers them.
from workbench.tasks import custom_task, math_task, tool_task  # noqa: E402,F401

__all__ = ["EvalAxis", "RewardFn", "Task", "build", "names", "register"]
