"""Typed model options (``conf/model/*.yaml``): what is loaded, plus the trainer/generation settings
the trainer maps onto ``GRPOConfig``. Unknown keys are rejected with the list of valid ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.tasks.config import check, from_mapping

KINDS = ("tiny", "hf")
DTYPES = ("bf16", "fp16", "fp32")


@dataclass
class TinyArch:
    """The tiny Qwen2 decoder (NOTES.md: 4 layers x 128 wide learns 3-digit addition in ~150 s)."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 256
    max_positions: int = 160        # prompt + completion tokens the model can attend over


@dataclass
class TinyWarmup:
    """Supervised warm-up on the task's demonstrations (plain AdamW loop, loss on completion tokens)."""

    steps: int = 800
    batch_size: int = 64
    lr: float = 2.0e-3
    seed: int = 0
    threads: int = 1                # torch threads while building: 2 threads on 2 shared cores spin and run 5-10x slower


@dataclass
class LoraOptions:
    """LoRA adapters trained through TRL's ``peft_config`` (workbench/models/lora.py); r = 0 trains every weight."""

    r: int = 0                               # adapter rank; 0 = off (full fine-tuning)
    alpha: float = 32.0                      # scaling: the update is multiplied by alpha / r
    dropout: float = 0.05                    # dropout on the adapter's input
    target_modules: Any = "all-linear"       # module names (e.g. [q_proj, v_proj]) or all-linear (every linear
                                             # layer except the output head)

    def __post_init__(self):
        check(isinstance(self.r, int) and not isinstance(self.r, bool) and self.r >= 0,
              f"model.lora.r={self.r!r} must be an integer >= 0 (0: no LoRA)")
        check(isinstance(self.alpha, (int, float)) and not isinstance(self.alpha, bool) and self.alpha > 0,
              f"model.lora.alpha={self.alpha!r} must be > 0")
        check(isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1,
              f"model.lora.dropout={self.dropout!r} must lie in [0, 1)")
        targets = self.target_modules
        check(isinstance(targets, str) and bool(targets) or isinstance(targets, (list, tuple)) and bool(targets)
              and all(isinstance(t, str) and t for t in targets),
              f"model.lora.target_modules={targets!r} must be all-linear or a list of module names like [q_proj, v_proj]")
        if isinstance(targets, tuple):
            self.target_modules = list(targets)


@dataclass
class ModelConfig:
    name: str = "tiny"
    kind: str = "tiny"                       # tiny (built locally and cached) | hf (hub name or local path)
    hub_name: str | None = None              # hf: e.g. Qwen/Qwen2.5-3B-Instruct
    path: str | None = None                  # hf: local directory (wins over hub_name; works offline)
    dtype: str = "fp32"                      # bf16 | fp16 | fp32 (weights; GRPOConfig bf16/fp16 flags)
    attn_implementation: str | None = None   # hf: sdpa | flash_attention_2 | eager (null: transformers' default)
    use_cpu: bool = False                    # GRPOConfig.use_cpu
    use_vllm: bool = False                   # GRPOConfig.use_vllm: generate with vLLM through TRL (GPU only)
    vllm_mode: str | None = None             # GRPOConfig.vllm_mode: colocate (inside each training process) | server
    vllm_gpu_memory_utilization: float = 0.3  # GRPOConfig.vllm_gpu_memory_utilization (colocate)
    vllm_tensor_parallel_size: int = 1       # GRPOConfig.vllm_tensor_parallel_size (colocate; server: trl vllm-serve flag)
    vllm_server_base_url: str | None = None  # server: e.g. http://10.0.0.7:8000 (wins over host/port)
    vllm_server_host: str | None = None      # server: host running `trl vllm-serve` (null: TRL's default)
    vllm_server_port: int | None = None      # server: its port (null: TRL's default, 8000)
    gradient_checkpointing: bool = False     # GRPOConfig.gradient_checkpointing
    per_device_train_batch_size: int = 8     # GRPOConfig.per_device_train_batch_size (completions)
    gradient_accumulation_steps: int = 1     # GRPOConfig.gradient_accumulation_steps
    learning_rate: float = 1.0e-6            # GRPOConfig.learning_rate (DVAO: constant 1e-6, AdamW)
    max_prompt_length: int = 1024            # prompt tokens kept (left-truncated)
    max_completion_length: int = 8192        # GRPOConfig.max_completion_length (DVAO: 8,192 new tokens)
    temperature: float = 1.0                 # GRPOConfig.temperature during rollouts
    top_p: float = 1.0                       # GRPOConfig.top_p during rollouts
    arch: TinyArch = field(default_factory=TinyArch)       # tiny only
    warmup: TinyWarmup = field(default_factory=TinyWarmup)  # tiny only
    lora: LoraOptions = field(default_factory=LoraOptions)  # LoRA adapters (r = 0: off)

    def __post_init__(self):
        check(self.kind in KINDS, f"model.kind={self.kind!r}: valid kinds are {list(KINDS)}")
        check(self.dtype in DTYPES, f"model.dtype={self.dtype!r}: valid dtypes are {list(DTYPES)}")
        check(self.kind != "hf" or bool(self.hub_name or self.path),
              f"model {self.name!r}: kind=hf needs model.path=DIR (a save_pretrained folder) or model.hub_name=ORG/NAME")
        check(self.max_completion_length > 0 and self.max_prompt_length > 0,
              "model.max_prompt_length and model.max_completion_length must be positive")
        check(self.vllm_mode in (None, "colocate", "server"), "model.vllm_mode must be colocate, server or null")
        check(self.vllm_tensor_parallel_size >= 1, "model.vllm_tensor_parallel_size must be >= 1")
        check(self.vllm_mode == "server" or not (self.vllm_server_base_url or self.vllm_server_host
                                                 or self.vllm_server_port),
              "model.vllm_server_* only apply with model.vllm_mode=server")
        check(self.vllm_mode != "server" or self.vllm_tensor_parallel_size == 1,
              "model.vllm_tensor_parallel_size applies to colocate mode; in server mode pass "
              "--tensor-parallel-size to `trl vllm-serve` instead")
        check(self.warmup.steps >= 0 and self.warmup.batch_size > 0, "model.warmup: steps >= 0, batch_size > 0")


def parse(model_cfg) -> ModelConfig:
    """``ModelConfig`` from the Hydra ``model`` node or a dict."""
    return from_mapping(ModelConfig, model_cfg, "model")
