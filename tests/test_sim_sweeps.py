"""sweeps/sim_*.yaml: every grid point has its own run directory, and the shared point is shared."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
SIM = sorted(p.stem for p in (ROOT / "sweeps").glob("sim_*.yaml"))


def run_dir(name: str, *overrides: str) -> tuple[str, dict]:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True,
                      overrides=[f"hydra.searchpath=[file://{ROOT}]", f"+sweeps={name}", *overrides])
    assert cfg.task.kind == "bandit" and not cfg.logger.get("wandb") and not cfg.logger.get("trackio") and cfg.threads == 1
    return str(cfg.run_dir), dict(cfg.hydra.sweeper.params)


@pytest.mark.parametrize("name", SIM)
def test_each_swept_value_gets_its_own_run_dir(name):
    _, params = run_dir(name)
    first = {k: str(v).split(",")[0] for k, v in params.items()}
    base, _ = run_dir(name, *(f"{k}={v}" for k, v in first.items()))
    for key, values in params.items():
        second = str(values).split(",")[1]
        other, _ = run_dir(name, *(f"{k}={second if k == key else v}" for k, v in first.items()))
        assert other != base, f"{name}: {key}={second} would overwrite {base}"


def test_the_shared_design_point_is_one_run_for_every_sweep():
    point = {"sim_G": "G=16", "sim_K": "task.K=2", "sim_noise": "task.aux_noise=0.0", "sim_corr": "task.correlation=conflicting"}
    dirs = {run_dir(name, "method=dvao", "seed=3", point[name])[0] for name in SIM}
    assert len(dirs) == 1, dirs
