"""Per-step timing and memory probe for bench/gpu/check.py, the same code in both trainers it compares.

Imported into a training process (``python -m workbench.run ... plugins=[bench/gpu/gpu_check_probe.py]``, or
directly by check.py's vanilla-TRL child), it patches ``trl.GRPOTrainer`` (and so the workbench's subclass)
when the environment variable ``DVAO_GPU_PROBE`` names a file; unset, importing it changes nothing. It
appends one JSON line per optimiser step to that file, flushed at once, so a run killed at its time limit
still leaves every finished step:

    {"event": "step", "step": 3, "wall_s": ..., "generate_s": ..., "gen_tokens": ..., "gen_calls": 1,
     "peak_alloc_gib": ..., "peak_reserved_gib": ..., "peak_rss_mib": ...}

plus a ``begin`` line (trainer class, device, dtype, parameter counts) and an ``end`` line (the third-party
distributions the process imported: what the device must have or be carried, bench/gpu/wheelhouse.py).
On a GPU, each step's boundaries and the generation call are timed after ``torch.cuda.synchronize()``, so
queued kernels are counted where they run; the peak memory is reset at every step start.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time

ENV = "DVAO_GPU_PROBE"
_GIB = 2.0 ** 30


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def imported_distributions() -> list[str]:
    """The installed distributions (pip names) whose top-level packages this process imported."""
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    tops = {name.split(".", 1)[0] for name in list(sys.modules)}
    return sorted({dist for top in tops for dist in owners.get(top, ())})


class _Writer:
    def __init__(self, path: str):
        self.path = path

    def write(self, record: dict) -> None:
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()


def _make_callback(writer: _Writer, trainer_name: str):
    import torch
    from transformers import TrainerCallback

    class ProbeCallback(TrainerCallback):
        """Step wall time, generation time and tokens, peak memory: one record per optimiser step."""

        gen_s = 0.0
        gen_tokens = 0
        gen_calls = 0

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            params = list(model.parameters()) if model is not None else []
            cuda = torch.cuda.is_available()
            writer.write({"event": "begin", "trainer": trainer_name, "step": state.global_step,
                          "device": torch.cuda.get_device_name() if cuda else "cpu",
                          "dtype": str(params[0].dtype) if params else None,
                          "total_params": sum(p.numel() for p in params),
                          "trainable_params": sum(p.numel() for p in params if p.requires_grad),
                          "bf16": bool(args.bf16), "gradient_checkpointing": bool(args.gradient_checkpointing),
                          "completions_per_step": args.per_device_train_batch_size * args.gradient_accumulation_steps,
                          "G": args.num_generations, "max_completion_length": args.max_completion_length})

        def on_step_begin(self, args, state, control, **kwargs):
            _sync()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            self.gen_s, self.gen_tokens, self.gen_calls = 0.0, 0, 0
            self._t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            _sync()
            wall = time.perf_counter() - self._t0
            cuda = torch.cuda.is_available()
            writer.write({"event": "step", "step": state.global_step, "wall_s": wall, "generate_s": self.gen_s,
                          "gen_tokens": self.gen_tokens, "gen_calls": self.gen_calls,
                          "peak_alloc_gib": torch.cuda.max_memory_allocated() / _GIB if cuda else None,
                          "peak_reserved_gib": torch.cuda.max_memory_reserved() / _GIB if cuda else None,
                          "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})

        def on_train_end(self, args, state, control, **kwargs):
            writer.write({"event": "end", "step": state.global_step, "imports": imported_distributions()})

    return ProbeCallback()


def install(path: str) -> None:
    """Patch trl.GRPOTrainer once: every trainer built from now on carries the probe's callback, and its
    transformers/vLLM generation call is timed."""
    from trl import GRPOTrainer

    if getattr(GRPOTrainer, "_dvao_gpu_probe", None):
        return
    writer = _Writer(path)
    init, generate = GRPOTrainer.__init__, GRPOTrainer._generate_single_turn

    def patched_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._dvao_probe = _make_callback(writer, type(self).__name__)
        self.add_callback(self._dvao_probe)

    def patched_generate(self, *args, **kwargs):
        _sync()
        t0 = time.perf_counter()
        completion_ids, logprobs = generate(self, *args, **kwargs)
        _sync()
        probe = getattr(self, "_dvao_probe", None)
        if probe is not None and self.model.training:  # not the workbench's own held-out evaluation
            probe.gen_s += time.perf_counter() - t0
            probe.gen_tokens += sum(len(ids) for ids in completion_ids)
            probe.gen_calls += 1
        return completion_ids, logprobs

    GRPOTrainer.__init__ = patched_init
    GRPOTrainer._generate_single_turn = patched_generate
    GRPOTrainer._dvao_gpu_probe = (init, generate)


def uninstall() -> None:
    """Undo ``install`` (for a test that probes trainers inside its own process)."""
    from trl import GRPOTrainer

    originals = getattr(GRPOTrainer, "_dvao_gpu_probe", None)
    if originals:
        GRPOTrainer.__init__, GRPOTrainer._generate_single_turn = originals
        del GRPOTrainer._dvao_gpu_probe


if os.environ.get(ENV):
    install(os.environ[ENV])
