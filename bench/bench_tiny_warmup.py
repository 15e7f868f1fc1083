"""Tiny-model warm-up speed: seconds per AdamW step (batch 64) for math and tool demonstrations,
with 1 and 2 torch threads, and the projected cold build time of the configured step counts.

Ratios are against 1 thread (the tiny.yaml default) for the same task, measured side by side.
On 2 cores shared with other jobs, 2 threads often run slower than 1 (OpenMP spin-waits).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.conftest import conf_node  # noqa: E402
from workbench import models, tasks  # noqa: E402
from workbench.models import tiny  # noqa: E402

STEPS = 15


def seconds_per_step(task, cfg, threads: int) -> float:
    torch.set_num_threads(threads)
    tok = tiny.tiny_tokenizer(task)
    model = tiny.fresh_model(cfg, tok, seed=0)
    short = models.parse({**conf_node("model", "tiny"), "warmup": {**conf_node("model", "tiny")["warmup"],
                                                                   "steps": STEPS}})
    stats = tiny.warm_up(model, tok, task, short, progress=False)
    return stats["seconds"] / STEPS


def main() -> None:
    cfg = models.parse(conf_node("model", "tiny"))
    print(f"{'task':6} {'threads':>7} {'s/step':>8} {'ratio':>6} {'cold build (s)':>15}")
    for name in ("math", "tool"):
        task = tasks.build(conf_node("task", name))
        steps = tiny.effective(cfg, task).warmup.steps
        base = None
        for threads in (1, 2):
            s = seconds_per_step(task, cfg, threads)
            base = base or s
            print(f"{name:6} {threads:7d} {s:8.3f} {s / base:6.2f} {s * steps:15.0f}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
