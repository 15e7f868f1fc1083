"""Shared helpers for the dashboard tests (no tests here): a small finished sweep logged to trackio, and
the dashboard started as a user starts it (`python -m analysis.dashboard RUNS --port 0`)."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT

METHODS = ("rc", "ac", "gdpo", "dvao")
WEIGHTS = ("[0.3,0.7]", "[0.7,0.3]")


def env(home: Path) -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRACKIO_", "XDG_"))}
    out.update(HOME=str(home), HF_HUB_OFFLINE="1", WANDB_MODE="offline")
    return out


def trackio_sweep(folder: Path, steps: int = 30) -> Path:
    """A finished 'demo' sweep of real bandit runs (4 methods x 2 weights, one process) logged with
    logger=trackio under ``folder``/runs; returns that runs root."""
    (folder / "home").mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "workbench.run", "-m", "task=bandit", "task.contexts=32", "threads=1", f"steps={steps}",
           "eval.every=10", "logger=trackio", "sweep=demo", "hydra.sweep.dir=multirun",
           f"method={','.join(METHODS)}", f"weights={','.join(WEIGHTS)}"]
    # run from ``folder``, as a user runs from their project: run_dir and logger.root default to runs/ there
    res = subprocess.run(cmd, cwd=folder, env=env(folder / "home"), text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=600)
    assert res.returncode == 0 and "8 finished" in res.stdout, res.stdout[-3000:]
    return folder / "runs"


@contextmanager
def dashboard(runs: Path, home: Path, *args: str, timeout: float = 180):
    """The running dashboard of ``runs``: yields (base URL, the lines it printed); Ctrl-C (SIGINT) at the end."""
    home.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "analysis.dashboard", str(runs), "--port", "0", *args], cwd=ROOT,
                            env=env(home), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout
    try:
        while not seen or "Ctrl-C" not in seen[-1]:
            try:
                seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                proc.kill()
                raise AssertionError("dashboard did not start within %d s:\n%s" % (timeout, "".join(seen))) from None
        url = next(line for line in seen if "live Pareto fronts:" in line).split("fronts:")[1].strip()
        yield url.removesuffix("/pareto"), seen
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
