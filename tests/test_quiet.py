"""Quiet output (issue 15): a plain run prints its own lines only, and real warnings stay visible."""
from __future__ import annotations

import pytest

import os
import subprocess
import sys
import warnings

from tests.conftest import ROOT
from workbench.quiet import KNOWN_NOISE, silence_known_noise

NOISE = ("Warning", "warnings.warn", "Loading weights", "Writing model shards", "it/s]", "missing keys")


def _run(*overrides: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "WANDB_API_KEY")}
    res = subprocess.run([sys.executable, "-m", "workbench.run", "logger=none", *overrides], cwd=ROOT,
                         env={**env, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout + res.stderr


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_plain_run_and_its_resume_print_no_library_noise(tmp_path, tiny_math_dir):
    run_dir = tmp_path / "run"
    out = _run("steps=4", f"run_dir={run_dir}")
    assert not [n for n in NOISE if n in out], out
    lines = out.splitlines()
    assert f"starting {run_dir}: method=dvao task=math" in lines[0]
    assert sum("step " in line and "/4  reward: accuracy" in line for line in lines) == 4
    assert any("eval at step 0: accuracy" in line for line in lines)
    assert f"done {run_dir}: eval/accuracy" in lines[-1]
    # A resume loads the checkpoint (tied embeddings: transformers reports lm_head.weight "missing").
    out = _run("steps=6", f"run_dir={run_dir}", "resume=true")
    assert not [n for n in NOISE if n in out], out
    assert f"resuming {run_dir}" in out and "(from step 4)" in out and "step 6/6" in out


def test_only_the_known_messages_are_silenced():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_noise()
        for pattern, category in KNOWN_NOISE:
            warnings.warn(pattern + " and will be removed in v6.", category)  # the patterns are literal text
        warnings.warn("`is_gradient_checkpointing` is deprecated", DeprecationWarning)  # other category: kept
        warnings.warn("a real problem", FutureWarning)
        warnings.warn("a real problem", UserWarning)
    assert [(type(w.message), str(w.message)) for w in caught] == [
        (DeprecationWarning, "`is_gradient_checkpointing` is deprecated"),
        (FutureWarning, "a real problem"), (UserWarning, "a real problem")]
