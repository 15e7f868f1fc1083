"""The GRPOTrainer subclass: the loss sees exactly the estimator's advantages; None rewards arrive as NaN;
a raising reward function is named with its completion."""
from __future__ import annotations

import pytest
import torch

from tests.test_run_support import fast_cfg
from workbench import advantages
from workbench.run import run
from workbench.train.trainer import EstimatorGRPOTrainer, RewardFunctionError, guard_reward


def test_guard_names_the_function_and_the_completion():
    def length(prompts, completions, **kwargs):
        return [1.0 / (len(c) - 3) for c in completions]  # ZeroDivisionError on a 3-character completion

    guarded = guard_reward(length)
    assert guarded.__name__ == "length"
    assert guarded(prompts=["1+1=", "2+2="], completions=["2 and more", "4 more"], answer=["2", "4"]) == [1 / 7, 1 / 3]
    with pytest.raises(RewardFunctionError) as err:
        guarded(prompts=["1+1=", "2+2="], completions=["2 and more", "4=4"], answer=["2", "4"])
    message = str(err.value)
    assert "'length'" in message and "completion 1" in message and "'4=4'" in message and "'2+2='" in message
    assert "ZeroDivisionError" in message


def test_loss_uses_exactly_the_estimator_output_with_nan_for_none(tmp_path, monkeypatch):
    """Spy on what reaches TRL's loss and on the estimator call; a None reward must arrive as NaN."""
    import workbench.tasks

    build = workbench.tasks.build

    def build_with_missing_length(cfg):
        task = build(cfg)
        funcs = task.reward_funcs()

        def length(prompts, completions, **kwargs):  # every other completion: no length reward
            scores = funcs[1](prompts=prompts, completions=completions, **kwargs)
            return [None if i % 2 == 0 else s for i, s in enumerate(scores)]

        monkeypatch.setattr(task, "reward_funcs", lambda: [funcs[0], length])
        return task

    monkeypatch.setattr(workbench.tasks, "build", build_with_missing_length)
    estimates, losses = [], []
    generate, compute_loss = EstimatorGRPOTrainer._generate_and_score_completions, EstimatorGRPOTrainer._compute_loss

    def spy_generate(self, inputs):
        out = generate(self, inputs)
        estimates.append((self.last_estimate, out["completion_ids"].clone(), out["advantages"].clone()))
        return out

    def spy_loss(self, model, inputs):
        losses.append((inputs["completion_ids"].clone(), inputs["advantages"].detach().clone()))
        return compute_loss(self, model, inputs)

    monkeypatch.setattr(EstimatorGRPOTrainer, "_generate_and_score_completions", spy_generate)
    monkeypatch.setattr(EstimatorGRPOTrainer, "_compute_loss", spy_loss)
    run(fast_cfg(tmp_path / "run", "method=dvao", "weights=[0.7,0.3]"))

    assert len(estimates) == len(losses) == 2  # one generation and one loss batch per step
    weights = torch.tensor([0.7, 0.3])
    for ((rewards, result), gen_ids, gen_adv), (loss_ids, loss_adv) in zip(estimates, losses):
        assert rewards.shape == (2, 4, 2)
        missing = torch.isnan(rewards[..., 1]).reshape(-1)
        assert missing[0::2].all() and not missing[1::2].any() and not torch.isnan(rewards[..., 0]).any()
        expected = advantages.get("dvao")(rewards, weights).advantages.reshape(-1)
        assert torch.equal(result.advantages.reshape(-1), expected)
        assert torch.equal(gen_adv, expected)
        # TRL shuffles rows before the loss: match each loss row to its completion.
        for ids, adv in zip(loss_ids, loss_adv):
            rows = [i for i in range(len(gen_ids)) if torch.equal(gen_ids[i], ids)]
            assert rows and any(expected[i] == adv for i in rows)
        assert torch.equal(loss_adv.sort().values, expected.sort().values)
        # ...and it is not TRL's own RC path on the same rewards, so this test could fail
        trl_rc = advantages.get("rc")(rewards, weights, std="bessel", eps=1e-4).advantages.reshape(-1)
        assert expected.abs().sum() == 0 or not torch.allclose(expected, trl_rc)


def test_stateful_estimator_state_is_carried_saved_and_resumed(tmp_path, monkeypatch):
    """dvao_shrink_ema: each training step's estimator call gets the state the previous one returned,
    checkpoint-2 holds it (estimator_state.json), and resume=true starts step 3 from that state."""
    import json

    seen = []   # (state passed in, rewards, result)
    generate = EstimatorGRPOTrainer._generate_and_score_completions

    def spy_generate(self, inputs):
        before = self.estimator_state
        out = generate(self, inputs)
        seen.append((before, *self.last_estimate))
        return out

    monkeypatch.setattr(EstimatorGRPOTrainer, "_generate_and_score_completions", spy_generate)
    run_dir = tmp_path / "ema"
    run(fast_cfg(run_dir, "method=dvao_shrink_ema", "weights=[0.5,0.5]"))
    assert len(seen) == 2 and seen[0][0] is None and seen[1][0] is seen[0][2].state
    weights = torch.tensor([0.5, 0.5])
    for state_in, rewards, result in seen:
        expected = advantages.get("dvao_shrink")(rewards, weights, memory=0.9, state=state_in)
        assert torch.equal(result.advantages, expected.advantages) and result.state is not None
    saved = json.loads((run_dir / "checkpoints" / "checkpoint-2" / "estimator_state.json").read_text())
    assert saved["pooled_var"] == pytest.approx(seen[1][2].state["pooled_var"].tolist())

    seen.clear()
    run(fast_cfg(run_dir, "method=dvao_shrink_ema", "weights=[0.5,0.5]", "steps=3", "resume=true"))
    assert len(seen) == 1 and seen[0][0]["pooled_var"].tolist() == pytest.approx(saved["pooled_var"])


def test_a_corrupt_estimator_state_resumes_with_a_fresh_prior(tmp_path, caplog):
    """A hand-edited or truncated estimator_state.json does not block resume=true: a warning names it."""
    run_dir = tmp_path / "ema"
    run(fast_cfg(run_dir, "method=dvao_shrink_ema", "weights=[0.5,0.5]"))
    (run_dir / "checkpoints" / "checkpoint-2" / "estimator_state.json").write_text('{"pooled_var": [0.1,')
    with caplog.at_level("WARNING"):
        summary = run(fast_cfg(run_dir, "method=dvao_shrink_ema", "weights=[0.5,0.5]", "steps=3", "resume=true"))
    assert summary["step"] == 3 and "estimator_state.json is unreadable" in caplog.text
