"""The real-model path without a hub: random Qwen2.5 / Qwen3 architectures with a Qwen-style
tokenizer and chat template, loaded through the real model yamls, trained 2 GRPO steps on DAPO
chat prompts; the yamls' vLLM settings, and CPU runs forcing fp32 / no vLLM / no checkpointing."""
from __future__ import annotations

import dataclasses
import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trl import GRPOConfig

from tests.conftest import ROOT, conf_node
from tests.test_run_support import compose_cfg, fast_cfg, records
from tests.test_tasks_math import dapo_row, write_dapo
from tests.user_project import isolated_registries, project  # noqa: F401
from workbench import metrics as M
from workbench import models, store
from workbench.models import random_real
from workbench.models.hf import for_device
from workbench.train import config as C
from workbench.train.evaluate import EvalSettings, generate
from workbench.train.llm import CHECKPOINTING, grpo_kwargs

REAL = ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen3-4b-base"]
ARCH = {"qwen2.5-0.5b": "qwen2", "qwen3-4b-base": "qwen3"}


@pytest.fixture(scope="module")
def random_dirs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("random_real")
    return {arch: random_real.save_random_real(root / arch, random_real.RandomArch(arch=arch)) for arch in ("qwen2", "qwen3")}


@pytest.fixture(scope="module")
def dapo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dapo") / "dapo.parquet"
    write_dapo(path, [dapo_row(f"What is {i} + {i}?", str(2 * i)) for i in range(16)])
    return path


def real_overrides(name: str, path: Path, dapo: Path) -> list[str]:
    """A real model yaml on the random weights, DAPO chat prompts, CPU-sized lengths. A random model
    never answers right nor stops early, so every group's rewards are constant; noise on the length
    reward (the noise ablation's option) gives the loss a gradient: the path under test is the model's."""
    return [f"model={name}", f"model.path={path}", "task=math", "task.data.source=dapo", f"task.data.path={dapo}",
            "task.data.n_train=null", "task.data.n_eval=4", "task.length_limit=6", "train.max_new_tokens=8",
            "task.noise.objective=length", "task.noise.std=0.5"]


def test_random_tokenizer_is_qwens_class_with_a_chat_template(random_dirs, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for arch, path in random_dirs.items():
        cfg = conf_node("model", "qwen2.5-0.5b" if arch == "qwen2" else "qwen3-4b-base")
        model, tok = models.build({**cfg, "path": str(path)}, None)
        assert type(tok).__name__ == "Qwen2Tokenizer"  # AutoTokenizer's pick, as for the real checkpoints
        assert type(model).__name__ == f"{arch.capitalize()}ForCausalLM"
        assert model.dtype == torch.float32  # the yaml says bf16; no GPU here
        chat = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], add_generation_prompt=True, tokenize=False)
        assert chat == "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
        text = "Héllo wörld 12 + 34 = 46\t\\boxed{46}\n"
        assert tok.decode(tok(text)["input_ids"]) == text
        assert tok.eos_token == ("<|im_end|>" if arch == "qwen2" else "<|endoftext|>")
        assert tok.pad_token == "<|endoftext|>" and tok.pad_token_id != tok.convert_tokens_to_ids("<|im_start|>")
        assert set(model.generation_config.eos_token_id) == {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}


def test_left_padded_batch_generates_what_each_prompt_alone_does(random_dirs, monkeypatch):
    """Greedy, so any padding or position-id mistake shows up as a different continuation."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, tok = models.build({**conf_node("model", "qwen3-4b-base"), "path": str(random_dirs["qwen3"])}, None)
    prompts = [[{"role": "user", "content": "Hi"}],
               [{"role": "system", "content": "Solve the problem."}, {"role": "user", "content": "What is 123 + 459?"}]]
    greedy = EvalSettings(temperature=0.0, max_new_tokens=10)
    batched = generate(model, tok, prompts, greedy)
    alone = [generate(model, tok, [p], greedy) for p in prompts]
    assert batched == tuple([a[field][0] for a in alone] for field in range(3))  # texts, lengths, token ids


@pytest.mark.parametrize("name", REAL)
def test_cpu_forces_fp32_no_vllm_no_checkpointing(name, tmp_path):
    run = C.load(compose_cfg([f"model={name}", "logger=none", f"run_dir={tmp_path}"]))
    kwargs = grpo_kwargs(run, [0.5, 0.5], str(tmp_path))
    assert not any(k == "use_vllm" or k.startswith("vllm_") for k in kwargs)
    assert kwargs["use_cpu"] and not kwargs["bf16"] and not kwargs["fp16"] and not kwargs[CHECKPOINTING]
    assert for_device(models.parse(run.model)).dtype == "fp32"
    GRPOConfig(**kwargs)  # TRL accepts them
    run.train.extra = {"use_vllm": True, "vllm_mode": "server"}  # even when asked for explicitly
    assert "use_vllm" not in grpo_kwargs(run, [0.5, 0.5], str(tmp_path))


@pytest.mark.parametrize("mode, extra, expected", [
    ("colocate", [], {"use_vllm": True, "vllm_mode": "colocate", "vllm_gpu_memory_utilization": 0.3,
                      "vllm_tensor_parallel_size": 1}),
    ("server", ["model.vllm_server_host=10.0.0.7", "model.vllm_server_port=8001"],
     {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": "10.0.0.7", "vllm_server_port": 8001}),
    ("server", ["model.vllm_server_base_url=http://10.0.0.7:8000"],
     {"vllm_mode": "server", "vllm_server_base_url": "http://10.0.0.7:8000"}),
])
def test_vllm_modes_reach_grpo_config_on_a_gpu(mode, extra, expected, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    cfg = compose_cfg(["model=qwen3-4b-base", "logger=none", f"model.vllm_mode={mode}", *extra])
    run = C.load(cfg)
    models.parse(run.model)
    kwargs = grpo_kwargs(run, [0.5, 0.5], str(tmp_path))
    assert {k: kwargs.get(k) for k in expected} == expected
    assert kwargs["bf16"] and kwargs[CHECKPOINTING] and not kwargs["use_cpu"]
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    assert set(kwargs) <= fields  # every key is a GRPOConfig argument of the installed TRL


@pytest.mark.parametrize("bad, match", [
    ({"vllm_server_host": "h"}, "only apply with model.vllm_mode=server"),
    ({"vllm_mode": "server", "vllm_tensor_parallel_size": 2}, "trl vllm-serve"),
])
def test_bad_vllm_settings_say_how_to_fix(bad, match):
    with pytest.raises(ValueError, match=match):
        models.parse({**conf_node("model", "qwen3-4b-base"), **bad})


def _trained(run_dir: Path, start: Path) -> None:
    status = store.read_status(run_dir)
    assert status["status"] == "done" and status["step"] == 2, status
    assert [r["step"] for r in records(run_dir / store.METRICS)] == [1, 2]
    last = max(glob.glob(str(run_dir / "checkpoints" / "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
    before, after = load_file(str(start / "model.safetensors")), load_file(str(Path(last) / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in after if k in before), "no parameter moved"
    assert all(v.dtype == torch.float32 for v in after.values())
    final = records(run_dir / store.EVAL)[-1]
    assert final["step"] == 2 and 0 < final[M.eval_metric("mean_length")] <= 8


def test_qwen3_yaml_trains_two_steps_on_dapo_chat_prompts(random_dirs, dapo_file, tmp_path):
    run_dir = tmp_path / "qwen3"
    from workbench.run import run

    run(fast_cfg(run_dir, *real_overrides("qwen3-4b-base", random_dirs["qwen3"], dapo_file), "++task.eval.n_prompts=4"))
    _trained(run_dir, random_dirs["qwen3"])


@pytest.mark.slow  # make test-slow; a shorter test in make test covers the same rule
def test_qwen25_yaml_trains_through_the_command_line(random_dirs, dapo_file, tmp_path):
    run_dir = tmp_path / "qwen25"
    args = ["G=4", "steps=2", "train.prompts_per_step=2", "train.save_every=2", "eval.every=0",
            "++task.eval.n_prompts=4", "logger=none", "threads=1", f"run_dir={run_dir}",
            *real_overrides("qwen2.5-0.5b", random_dirs["qwen2"], dapo_file)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "workbench.run", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _trained(run_dir, random_dirs["qwen2"])


def _adapter(run_dir: Path, step: int) -> dict:
    return load_file(str(run_dir / "checkpoints" / f"checkpoint-{step}" / "adapter_model.safetensors"))


def test_lora_on_the_qwen3_path_trains_the_adapter_and_resume_continues_it(random_dirs, project, tmp_path):
    """LoRA through TRL's peft_config on the real-architecture path (model=hf, a user's task): only the adapter is
    trained and saved, and a run resumed from its step-2 checkpoint ends with the very adapter of the run that
    trained 3 steps straight."""
    from workbench.run import run

    base = ["task=custom", "task.data.path=prompts.jsonl", "task.rewards=[user_rewards_mod.has_digit]",
            "model=hf", f"model.path={random_dirs['qwen3']}", "train.max_new_tokens=8", "train.learning_rate=1e-3",
            "model.lora.r=4", "model.lora.target_modules=[q_proj,v_proj]", "train.save_every=1", "train.save_limit=5"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    summary = run(fast_cfg(straight, *base, "steps=3"))
    assert summary["model"] == "qwen3" and 0 < summary["trainable_params"] < summary["total_params"] / 4
    one, three = _adapter(straight, 1), _adapter(straight, 3)
    assert set(three) and all("lora_" in k and ("q_proj" in k or "v_proj" in k) for k in three)
    assert any(not torch.equal(one[k], three[k]) for k in three), "the adapter did not train"
    assert not (straight / "checkpoints" / "checkpoint-3" / "model.safetensors").exists()
    run(fast_cfg(resumed, *base, "steps=2"))
    run(fast_cfg(resumed, *base, "steps=3", "resume=true"))
    again = _adapter(resumed, 3)
    assert all(torch.allclose(three[k], again[k], atol=1e-6) for k in three), "resume did not continue the adapter"
