"""Multi-objective dynamic sampling (workbench/train/dynamic.py, the trainer's _dynamic_batch): which groups are
dropped, that no dropped group reaches the estimator or the loss, that the batch keeps its size, that the logged
counts are what happened, the bound on extra rounds, a stateful estimator fed only kept groups, validation."""
from __future__ import annotations

import pytest
import torch
from trl import GRPOTrainer

from tests.test_run_support import compose_cfg, fast_cfg, records
from workbench import advantages
from workbench import metrics as M
from workbench.run import run, validate
from workbench.train import dynamic as D
from workbench.train.config import ConfigError
from workbench.train.trainer import EstimatorGRPOTrainer

NAN = float("nan")


def test_constant_objectives_and_the_three_modes():
    rewards = torch.tensor([
        [[1.0, 0.0], [1.0, 1.0]],      # accuracy constant, length varies
        [[0.0, 1.0], [1.0, 1.0]],      # accuracy varies, length constant
        [[1.0, 1.0], [1.0, 1.0]],      # both constant
        [[1.0, NAN], [0.0, NAN]],      # length missing everywhere: constant (no signal)
        [[1.0, 0.5], [1.0, NAN]],      # one length value present: constant
    ])
    assert D.constant_objectives(rewards).tolist() == [[True, False], [False, True], [True, True], [False, True],
                                                       [True, True]]
    assert D.drop_mask(rewards, [0.8, 0.2], "off").tolist() == [False] * 5
    assert D.drop_mask(rewards, [0.8, 0.2], "all_constant").tolist() == [False, False, True, False, True]
    assert D.drop_mask(rewards, [0.8, 0.2], "top_constant").tolist() == [True, False, True, False, True]
    assert D.drop_mask(rewards, [0.2, 0.8], "top_constant").tolist() == [False, True, True, True, True]
    assert D.drop_mask(rewards, [0.5, 0.5], "top_constant").tolist() == [False, False, True, False, True]  # tie: both


def test_fill_takes_kept_groups_then_dropped_ones_at_the_bound():
    fill = D.Fill(3)
    fill.add_round(0, torch.tensor([True, False, True]))
    fill.add_round(1, torch.tensor([True, False]))
    assert fill.chosen == [(0, 1), (1, 1)] and fill.short == 1 and fill.dropped == [(0, 0), (0, 2), (1, 0)]
    fill.close()
    assert fill.chosen == [(0, 1), (1, 1), (0, 0)] and fill.filled == 1 and fill.dropped == [(0, 2), (1, 0)]
    full = D.Fill(1)
    full.add_round(0, torch.tensor([False, False]))    # surplus kept groups are left out, not counted as dropped
    assert full.chosen == [(0, 0)] and full.dropped == [] and full.short == 0


def test_pad_cat_pads_each_side():
    a, b = torch.tensor([[1, 2]]), torch.tensor([[3, 4, 5]])
    assert D.pad_cat([a, b], 0, "left").tolist() == [[0, 1, 2], [3, 4, 5]]
    assert D.pad_cat([a, b], 9, "right").tolist() == [[1, 2, 9], [3, 4, 5]]


def _rows(prompt_ids, prompt_mask, completion_ids, completion_mask) -> list[tuple]:
    """Each row as (prompt tokens, completion tokens) without padding: padding-independent identity."""
    return [(tuple(p[m.bool()].tolist()), tuple(c[cm.bool()].tolist()))
            for p, m, c, cm in zip(prompt_ids, prompt_mask, completion_ids, completion_mask)]


def _spy(monkeypatch, tasks_module=None):
    """Record each generation round's rows and rewards, each step's chosen batch and what reaches the loss."""
    rounds, batches, losses = [], [], []
    parent, compute_loss = GRPOTrainer._generate_and_score_completions, EstimatorGRPOTrainer._compute_loss
    ours = EstimatorGRPOTrainer._generate_and_score_completions

    def spy_parent(self, inputs):
        out = parent(self, inputs)
        rounds.append({"step": self.state.global_step, "rows": _rows(out["prompt_ids"], out["prompt_mask"],
                                                                     out["completion_ids"], out["completion_mask"]),
                       "rewards": self._rewards_per_func.clone(), "weights": self.objective_weights.clone()})
        return out

    def spy_ours(self, inputs):
        state_in = self.estimator_state
        out = ours(self, inputs)
        batches.append({"step": self.state.global_step, "state_in": state_in, "estimate": self.last_estimate,
                        "dynamic": self.last_dynamic, "rows": _rows(out["prompt_ids"], out["prompt_mask"],
                                                                    out["completion_ids"], out["completion_mask"]),
                        "advantages": out["advantages"].clone()})
        return out

    def spy_loss(self, model, inputs):
        losses.append({"step": self.state.global_step, "advantages": inputs["advantages"].detach().clone(),
                       "rows": _rows(inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"],
                                     inputs["completion_mask"])})
        return compute_loss(self, model, inputs)

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", spy_parent)
    monkeypatch.setattr(EstimatorGRPOTrainer, "_generate_and_score_completions", spy_ours)
    monkeypatch.setattr(EstimatorGRPOTrainer, "_compute_loss", spy_loss)
    return rounds, batches, losses


def _constant_accuracy_for_some_prompts(monkeypatch):
    """Accuracy rewards made constant (0.5) for prompts whose text has an even character sum, so about half the
    groups carry no accuracy signal whatever the policy samples: drops happen in every short run."""
    import workbench.tasks

    build = workbench.tasks.build

    def build_patched(cfg):
        task = build(cfg)
        funcs = task.reward_funcs()

        def accuracy(prompts, completions, **kwargs):
            real = funcs[0](prompts=prompts, completions=completions, **kwargs)
            return [0.5 if sum(map(ord, str(p))) % 2 == 0 else r for p, r in zip(prompts, real)]

        monkeypatch.setattr(task, "reward_funcs", lambda: [accuracy, *funcs[1:]])
        return task

    monkeypatch.setattr(workbench.tasks, "build", build_patched)


@pytest.mark.parametrize("method", ["dvao", "dvao_shrink_ema"])
def test_no_dropped_group_reaches_the_estimator_or_the_loss_and_the_counts_are_logged(tmp_path, monkeypatch, method):
    _constant_accuracy_for_some_prompts(monkeypatch)
    rounds, batches, losses = _spy(monkeypatch)
    run_dir = tmp_path / "ds"
    run(fast_cfg(run_dir, f"method={method}", "weights=[0.8,0.2]", "steps=3", "train.prompts_per_step=3",
                 "train.dynamic_sampling=top_constant"))
    logged = records(run_dir / "metrics.jsonl")
    assert len(batches) == len(logged) == 3 and sum(len(b["dynamic"]["chosen"][0]) for b in batches) == 9
    total_dropped = 0
    for batch, record in zip(batches, logged):
        mine = [r for r in rounds if r["step"] == batch["step"]]
        # Independently: which generated groups carry no accuracy signal (the highest weight, 0.8).
        kept_rows, dropped_rows, n_dropped, n_groups = [], [], 0, 0
        for r in mine:
            grouped = r["rewards"].view(-1, 4, 2)
            for g in range(grouped.shape[0]):
                rows = r["rows"][g * 4:(g + 1) * 4]
                n_groups += 1
                if grouped[g, :, 0].unique().numel() == 1:
                    dropped_rows += rows
                    n_dropped += 1
                else:
                    kept_rows += rows
        assert len(batch["rows"]) == 12                                           # the configured batch size
        # No dropped row in the batch (unless the round bound was hit: then exactly the filled groups' rows)...
        assert sum(row not in kept_rows for row in batch["rows"]) == 4 * record[M.DS_GROUPS_FILLED]
        step_losses = [loss for loss in losses if loss["step"] == batch["step"]]
        assert sorted(row for loss in step_losses for row in loss["rows"]) == sorted(batch["rows"])  # ...nor the loss
        rewards, result = batch["estimate"]
        assert rewards.shape == (3, 4, 2)
        assert D.drop_mask(rewards, [0.8, 0.2], "top_constant").sum() == record[M.DS_GROUPS_FILLED]
        options = {"memory": 0.9, "state": batch["state_in"]} if method == "dvao_shrink_ema" else {}
        expected = advantages.get("dvao_shrink" if method == "dvao_shrink_ema" else "dvao")(
            rewards, torch.tensor([0.8, 0.2]), **options).advantages.reshape(-1)
        assert torch.equal(batch["advantages"], expected)                        # the estimator saw the kept groups only
        extra = sum(len(r["rows"]) for r in mine) - 12
        assert record[M.DS_ROUNDS] == len(mine) and record[M.DS_GROUPS_GENERATED] == n_groups
        assert record[M.DS_GROUPS_DROPPED] + record[M.DS_GROUPS_FILLED] == n_dropped
        assert record[M.DS_EXTRA_COMPLETIONS] == extra
        assert record[M.zero_spread_frac("accuracy")] == pytest.approx(n_dropped / n_groups)
        total_dropped += n_dropped
    assert total_dropped > 0 and sum(r[M.DS_GROUPS_DROPPED] for r in logged) > 0   # the test could have failed
    if method == "dvao_shrink_ema":   # the state carried from step to step is the one built on kept groups only
        assert batches[1]["state_in"] is batches[0]["estimate"][1].state


def test_at_the_round_bound_dropped_groups_fill_the_batch_and_are_counted(tmp_path, monkeypatch, caplog):
    _constant_accuracy_for_some_prompts(monkeypatch)
    rounds, batches, losses = _spy(monkeypatch)
    run_dir = tmp_path / "bound"
    with caplog.at_level("WARNING"):
        run(fast_cfg(run_dir, "method=rc", "steps=3", "train.prompts_per_step=3", "train.dynamic_sampling=top_constant",
                     "train.dynamic_sampling_rounds=0"))
    logged = records(run_dir / "metrics.jsonl")
    constant = [sum(int(g[:, 0].unique().numel() == 1) for g in r["rewards"].view(-1, 4, 2)) for r in rounds]
    assert [r[M.DS_ROUNDS] for r in logged] == [1, 1, 1] and [r[M.DS_EXTRA_COMPLETIONS] for r in logged] == [0, 0, 0]
    assert [r[M.DS_GROUPS_FILLED] for r in logged] == constant and [r[M.DS_GROUPS_DROPPED] for r in logged] == [0] * 3
    assert sum(constant) > 0 and "still carry no signal after 0 extra generation rounds" in caplog.text
    assert all(len(b["rows"]) == 12 for b in batches)


def test_off_logs_the_zero_spread_fraction_and_no_dynamic_counts(tmp_path):
    run_dir = tmp_path / "off"
    run(fast_cfg(run_dir))
    for record in records(run_dir / "metrics.jsonl"):
        assert 0.0 <= record[M.zero_spread_frac("accuracy")] <= 1.0
        assert not any(k.startswith(M.DYNAMIC + "/") for k in record)


@pytest.mark.parametrize("overrides, message", [
    (["train.dynamic_sampling=every"], "train.dynamic_sampling='every'; valid values: off, all_constant, top_constant"),
    (["train.dynamic_sampling=top_constant", "train.dynamic_sampling_rounds=-1"],
     "train.dynamic_sampling_rounds must be an integer >= 0"),
    (["loss=gspo", "+train.extra.num_iterations=3"], "train.extra.num_iterations=3 contradicts loss=gspo"),
    (["loss.loss_type=daapo"], "loss.loss_type='daapo': GRPOConfig.loss_type takes one of grpo"),
    (["loss.num_iterations=x"], "loss.num_iterations='x': GRPOConfig.num_iterations takes a int"),
    (["loss=dapo", "loss.epsilon_high=-1"], "loss.epsilon_high=-1: GRPOConfig.epsilon_high must be >= 0"),
])
def test_bad_settings_are_refused_before_the_run_directory_exists(tmp_path, overrides, message):
    run_dir = tmp_path / "bad"
    with pytest.raises(ConfigError) as err:
        validate(fast_cfg(run_dir, *overrides))
    assert message in str(err.value) and not run_dir.exists()


def test_each_loss_setting_reaches_grpo_config_and_the_summary(tmp_path):
    expected = {"trl": ("dapo", "token", 0.2, None, 1), "grpo": ("grpo", "token", 0.2, None, 1),
                "dapo": ("dapo", "token", 0.2, 0.28, 1), "dr_grpo": ("dr_grpo", "token", 0.2, None, 1),
                "gspo": ("grpo", "sequence", 3e-4, 4e-4, 2)}
    for name, (loss_type, level, eps, eps_high, iters) in expected.items():
        job = validate(fast_cfg(tmp_path / name, f"loss={name}"))
        args = job.args
        assert (args.loss_type, args.importance_sampling_level, args.epsilon, args.epsilon_high, args.num_iterations) \
            == (loss_type, level, eps, eps_high, iters)
        assert job.spec.loss.name == name
    assert compose_cfg(["loss=dapo", "train.dynamic_sampling=top_constant"]).run_dir.endswith(
        "dvao-tiny-G8-w0.8-0.2-dapo-ds_top_constant-s0")
    assert compose_cfg([]).run_dir.endswith("dvao-tiny-G8-w0.8-0.2-s0")   # the defaults (trl, off) keep the old names


def test_under_two_processes_each_holds_whole_groups_or_the_run_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    run_dir = tmp_path / "split"
    with pytest.raises(ConfigError, match="must hold whole groups: train.batch_size=12 over 2 processes leaves 6"):
        validate(fast_cfg(run_dir, "train.prompts_per_step=3", "train.dynamic_sampling=all_constant"))
    assert not run_dir.exists()
    from workbench.train.config import load
    from workbench.train.llm import grpo_kwargs

    spec = load(fast_cfg(run_dir, "train.prompts_per_step=4", "train.dynamic_sampling=all_constant"))
    assert grpo_kwargs(spec, [0.8, 0.2], str(run_dir))["per_device_train_batch_size"] == 8   # 2 groups each


@pytest.mark.slow
def test_two_processes_build_one_batch_of_kept_groups(tmp_path, tiny_math_dir):
    """torchrun, 2 CPU ranks (gloo): both ranks hand the estimator the same kept (4, 4, 2) batch, each trains on its
    slice of it (2 whole groups), and rank 0's logged counts add up."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    args = ["method=dvao", "weights=[0.7,0.3]", "G=4", "steps=3", "train.prompts_per_step=4", "train.save_every=3",
            "eval.every=0", "++task.eval.n_prompts=8", "++task.eval.n_samples=1", "logger=none", "threads=1",
            "train.dynamic_sampling=top_constant", f"run_dir={tmp_path / 'run'}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "multiproc_driver.py"), str(tmp_path / "spy"), *args]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    spies = [json.loads((tmp_path / "spy" / f"rank{r}.json").read_text()) for r in range(2)]
    logged = records(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in logged] == [1, 2, 3]
    for step in range(3):
        gens = [s["generations"][step] for s in spies]
        assert gens[0]["rewards"] == gens[1]["rewards"]
        rewards = torch.tensor(gens[0]["rewards"])
        assert rewards.shape == (4, 4, 2)
        assert D.drop_mask(rewards, [0.7, 0.3], "top_constant").sum() == logged[step][M.DS_GROUPS_FILLED]
        expected = advantages.get("dvao")(rewards, torch.tensor([0.7, 0.3])).advantages.reshape(-1)
        for rank in range(2):
            mine = expected[rank * 8:(rank + 1) * 8]
            assert torch.equal(torch.tensor(gens[rank]["advantages"]), mine)
            seen = sorted(a for loss in spies[rank]["losses"] if loss["step"] == step for a in loss["advantages"])
            assert seen == sorted(mine.tolist())
        record = logged[step]
        assert record[M.DS_GROUPS_GENERATED] - record[M.DS_GROUPS_DROPPED] >= 4
        assert record[M.DS_EXTRA_COMPLETIONS] == (record[M.DS_GROUPS_GENERATED] - 4) * 4
    assert sum(r[M.DS_GROUPS_DROPPED] for r in logged) > 0   # the test could have failed


def test_the_sampling_analysis_counts_what_the_runs_logged(tmp_path):
    """analysis.sampling on two hand-made runs: completions per batch, extra share and the ratio to `off`."""
    import json

    from analysis.load import load_runs
    from analysis.sampling import per_run, table
    from workbench import store

    def fake(name, mode, records_):
        d = tmp_path / name
        d.mkdir()
        (d / store.CONFIG).write_text("G: 4\ntrain:\n  prompts_per_step: 2\n  batch_size: null\n")
        (d / store.STATUS).write_text(json.dumps({"status": "done", "step": len(records_)}))
        (d / store.SUMMARY).write_text(json.dumps({
            "method": "rc", "task": "math", "model": "tiny", "seed": 0, "G": 4, "K": 2, "weights": [0.8, 0.2],
            "objectives": ["accuracy", "length"], "eval_axes": ["accuracy"], "step": len(records_),
            "eval/accuracy": 0.5, "loss": "dapo", "dynamic_sampling": mode}))
        (d / store.METRICS).write_text("".join(json.dumps({"step": i + 1, M.REWARD_TOTAL: 0.5, M.STEP_TIME: 1.0, **r})
                                               + "\n" for i, r in enumerate(records_)))

    fake("off", "off", [{M.zero_spread_frac("accuracy"): 0.5}] * 2)
    fake("on", "top_constant", [{M.DS_EXTRA_COMPLETIONS: 8.0, M.DS_GROUPS_DROPPED: 2.0, M.STEP_TIME: 2.0},
                                {M.DS_EXTRA_COMPLETIONS: 0.0, M.DS_GROUPS_DROPPED: 0.0, M.STEP_TIME: 2.0}])
    tables = load_runs(tmp_path)
    cells = table(per_run(tables.runs, tables.steps)).set_index("dynamic_sampling")
    assert cells.loc["off", "completions_per_batch"] == 8 and cells.loc["top_constant", "completions_per_batch"] == 12
    on = cells.loc["top_constant"]
    assert on["extra_share"] == 0.5 and on["dropped_per_batch"] == 1.0
    assert on["completions_vs_off"] == 1.5 and on["step_time_vs_off"] == 2.0


def test_the_bandit_refuses_llm_only_settings(tmp_path):
    for override in ("train.dynamic_sampling=all_constant", "loss=dapo"):
        with pytest.raises(ConfigError, match="apply to LLM tasks only"):
            validate(compose_cfg(["task=bandit", "logger=none", f"run_dir={tmp_path / 'b'}", override]))
    assert not (tmp_path / "b").exists()


def test_a_run_made_before_the_loss_group_and_dynamic_sampling_resumes(tmp_path):
    """Its config.yaml lacks `loss` and `train.dynamic_sampling*`: it ran with loss=trl and no dynamic sampling, so
    resume=true continues it; asking for another loss is still refused as a different run."""
    import yaml

    run_dir = tmp_path / "old"
    run(fast_cfg(run_dir))
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    saved.pop("loss")
    for key in ("dynamic_sampling", "dynamic_sampling_rounds"):
        saved["train"].pop(key)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved))
    assert run(fast_cfg(run_dir, "steps=3", "resume=true"))["step"] == 3
    with pytest.raises(ConfigError, match="loss.name: 'trl' in the run dir, 'dapo' now"):
        run(fast_cfg(run_dir, "steps=4", "resume=true", "loss=dapo"))
