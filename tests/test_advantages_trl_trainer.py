"""End-to-end TRL oracle: a real GRPOTrainer step on a tiny local model, with reward functions
that return predetermined values (None where missing), must produce the advantages our ``rc`` and
``gdpo`` compute, and those that trl_reference's lifted block computes, on the same rewards.

This closes the gap the fast oracle (tests/test_advantages_trl.py) leaves: it shows the lifted block
is what the trainer actually runs. Two trainer builds of one step each: about 3 s after imports.
"""
from __future__ import annotations

import math

import pytest
import torch

from tests.test_advantages_loop import random_rewards
from workbench.advantages import get
from workbench.advantages.trl_reference import trl_advantages
from workbench.train.llm import CHECKPOINTING

B, G, K = 3, 4, 2
WEIGHTS = [0.7, 1.3]


def tiny_policy():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from workbench.models.tokenizer import build_char_tokenizer

    tok = build_char_tokenizer(["abcdefgh 0123456789"])
    config = Qwen2Config(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, intermediate_size=64, max_position_embeddings=64,
                         tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=None)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    return model, tok


def scripted_reward(rewards: torch.Tensor, k: int):
    """A TRL reward function returning objective k of ``rewards`` (B, G, K) in completion order."""
    values = [None if math.isnan(v) else float(v) for v in rewards[..., k].flatten().tolist()]

    def reward(prompts, completions, **kwargs):
        assert len(completions) == len(values)
        return list(values)

    reward.__name__ = f"objective_{k}"
    return reward


def trainer_advantages(rewards: torch.Tensor, aggregation: str, tmp_path) -> torch.Tensor:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    captured: list[torch.Tensor] = []

    class Capturing(GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            captured.append(out["advantages"].detach().clone())
            return out

    model, tok = tiny_policy()
    args = GRPOConfig(
        output_dir=str(tmp_path / aggregation), max_steps=1, per_device_train_batch_size=B * G,
        gradient_accumulation_steps=1, num_generations=G, max_completion_length=4, learning_rate=1e-5,
        beta=0.0, reward_weights=WEIGHTS, multi_objective_aggregation=aggregation, scale_rewards="group",
        use_cpu=True, bf16=False, report_to="none", logging_steps=1,
        save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, seed=0, **{CHECKPOINTING: False},
    )
    data = Dataset.from_dict({"prompt": ["ab", "cd", "ef", "gh"] * 4})
    trainer = Capturing(model=model, processing_class=tok, args=args, train_dataset=data,
                        reward_funcs=[scripted_reward(rewards, k) for k in range(K)])
    trainer.train()
    assert len(captured) == 1
    return captured[0].view(B, G)


@pytest.mark.parametrize("name,aggregation", [("rc", "sum_then_normalize"), ("gdpo", "normalize_then_sum")])
def test_grpo_trainer_step_matches(name, aggregation, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    rewards = random_rewards(4, B, G, K, missing=0.1, dtype=torch.float32)  # group 0 holds an unscorable row
    from_trainer = trainer_advantages(rewards, aggregation, tmp_path)
    torch.testing.assert_close(from_trainer, trl_advantages(rewards, WEIGHTS, aggregation), atol=1e-6, rtol=1e-6)
    ours = get(name)(rewards, WEIGHTS, std="bessel", eps=1e-4).advantages
    torch.testing.assert_close(ours, from_trainer, atol=1e-5, rtol=1e-5)
    assert from_trainer[0, 0] == 0 and from_trainer.abs().sum() > 0
