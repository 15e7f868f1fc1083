"""End to end: `workbench.run.run` on the project's math task and tiny model, a few steps each."""
from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.test_run_support import fast_cfg, records
from workbench import metrics as M
from workbench import store
from workbench.logger import RunLogger
from workbench.run import run
from workbench.train.trainer import EstimatorGRPOTrainer

OBJECTIVES = ["accuracy", "length"]
TRAIN_KEYS = [M.LOSS, M.GRAD_NORM, M.COMPLETION_LENGTH, M.STEP_TIME, M.LEARNING_RATE, M.ADV_ABS_MEAN, M.ADV_SQ_MEAN,
              M.ADV_ABS_MAX, M.ZERO_VAR_FRAC, M.REWARD_TOTAL]


def initial_weights(cfg) -> dict[str, torch.Tensor]:
    from workbench import models, tasks

    model, _ = models.build(cfg.model, tasks.build(cfg.task), progress=False)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    last = max(glob.glob(str(run_dir / "checkpoints" / "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
    return load_file(str(Path(last) / "model.safetensors"))


# (method, extra overrides): ac also turns on the KL term, gdpo also logs to W&B (offline).
CASES = [("rc", []), ("ac", ["train.beta=0.04"]), ("gdpo", ["logger=wandb", "logger.mode=offline"]),
         ("dvao", []), ("grpo_nostd", []), ("single", [])]


@pytest.mark.parametrize("method, extra", CASES, ids=[c[0] for c in CASES])
def test_tiny_run_per_method(tmp_path, method, extra):
    run_dir = tmp_path / method
    cfg = fast_cfg(run_dir, f"method={method}", *extra)
    summary = run(cfg)

    status = store.read_status(run_dir)
    assert status["status"] == "done" and status["step"] == 2
    before, after = initial_weights(cfg), final_weights(run_dir)
    changed = [k for k in after if k in before and not torch.equal(before[k], after[k])]
    assert changed, "no parameter moved"

    steps = records(run_dir / store.METRICS)
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        missing = [k for k in M.per_objective_keys(OBJECTIVES) + TRAIN_KEYS if k not in r]
        assert not missing, missing
        assert (M.KL in r) == (method == "ac")
        if method == "dvao" and r[M.ZERO_VAR_FRAC] < 1:  # logged over the groups where w~ is defined
            total = sum(r[M.weight(o)] for o in OBJECTIVES)
            assert total == pytest.approx(1.0, abs=1e-5)
        if method == "single":
            assert r[M.weight("accuracy")] == 1.0 and r[M.weight("length")] == 0.0

    evals = records(run_dir / store.EVAL)
    assert evals[-1]["step"] == 2 and {M.eval_metric(a) for a in OBJECTIVES} <= set(evals[-1])
    assert summary == json.loads((run_dir / store.SUMMARY).read_text())
    assert summary["method"] == method and summary["K"] == 2 and summary["objectives"] == OBJECTIVES
    assert summary["weights"] == pytest.approx([1.0, 0.0] if method == "single" else [0.8, 0.2])  # math's default
    for axis in summary["eval_axes"]:
        assert 0.0 <= summary[M.eval_metric(axis)] <= 1.0

    if "logger=wandb" in extra:  # the offline W&B log holds the very keys of the local store
        blob = b"".join(Path(p).read_bytes() for p in glob.glob(str(run_dir / "wandb" / "offline-run-*" / "*.wandb")))
        keys = {k for rec in steps + evals for k in rec if k != "step"}
        assert keys and not [k for k in keys if k.encode() not in blob]


def test_interrupt_marks_interrupted_and_resume_continues(tmp_path, monkeypatch):
    run_dir = tmp_path / "resumable"
    training_step = EstimatorGRPOTrainer.training_step
    calls = []

    def interrupt_at_step_3(self, *args, **kwargs):
        calls.append(self.state.global_step)
        if self.state.global_step == 2 and crash:
            raise KeyboardInterrupt  # Ctrl-C during the third step, after checkpoint-2
        return training_step(self, *args, **kwargs)

    monkeypatch.setattr(EstimatorGRPOTrainer, "training_step", interrupt_at_step_3)
    crash = True
    with pytest.raises(KeyboardInterrupt):
        run(fast_cfg(run_dir, "steps=3"))
    status = store.read_status(run_dir)
    assert status["status"] == "interrupted" and status["step"] == 2 and "KeyboardInterrupt" in status["error"]
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [1, 2]
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()

    crash, calls[:] = False, []
    summary = run(fast_cfg(run_dir, "steps=3", "resume=true"))
    assert calls == [2]  # only the third step was trained again
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [1, 2, 3]
    assert summary["step"] == 3 and store.read_status(run_dir)["status"] == "done"
    # resume=true on a finished run returns its summary without training...
    calls[:] = []
    assert run(fast_cfg(run_dir, "steps=3", "resume=true")) == summary and calls == []
    # ...unless more steps are asked for: then it continues from the final checkpoint
    assert run(fast_cfg(run_dir, "steps=4", "resume=true"))["step"] == 4 and calls == [3]
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [1, 2, 3, 4]


def test_logger_keeps_records_and_marks_failure(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with RunLogger(tmp_path / "r", config={"a": 1}) as log:
            log.log(1, {M.LOSS: 0.5})
            log.log_eval(1, {M.eval_metric("accuracy"): 0.25})
            raise RuntimeError("boom")
    status = store.read_status(tmp_path / "r")
    assert status["status"] == "failed" and status["step"] == 1 and "boom" in status["error"]
    assert records(tmp_path / "r" / store.METRICS) == [{"step": 1, M.LOSS: 0.5}]
    assert not (tmp_path / "r" / store.SUMMARY).exists()


def test_wandb_mode_never_prompts(monkeypatch):
    from workbench.logger import WandbSettings

    s = WandbSettings(project="p", name="n")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert s.resolved_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert s.resolved_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert s.resolved_mode() == "disabled"
    assert WandbSettings(project="p", name="n", mode="offline").resolved_mode() == "offline"


def test_lora_on_the_tiny_model_trains_only_the_adapter_with_beta(tmp_path):
    """model=tiny model.lora.r=4 with a KL term: TRL's reference policy is the base with the adapter switched off;
    only adapter weights are trainable and saved, and the summary says how many."""
    from safetensors.torch import load_file

    run_dir = tmp_path / "lora"
    summary = run(fast_cfg(run_dir, "model.lora.r=4", "model.lora.target_modules=[q_proj,v_proj]", "train.beta=0.04"))
    assert 0 < summary["trainable_params"] < summary["total_params"] / 10
    adapter = load_file(str(run_dir / "checkpoints" / "checkpoint-2" / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k and ("q_proj" in k or "v_proj" in k) for k in adapter)
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k), "the adapter did not train"
    assert all(M.KL in r for r in records(run_dir / store.METRICS))
