"""Multi-process plumbing: which rank am I, small object collectives, and the environment that
torch.distributed needs when SLURM (through Hydra's submitit launcher) starts one task per GPU.

Launchers and what sets the torch.distributed variables (MASTER_ADDR, MASTER_PORT, RANK,
LOCAL_RANK, WORLD_SIZE):

- ``torchrun`` / ``accelerate launch``: the launcher itself, before Python starts;
- submitit (``hydra/launcher=slurm_multigpu``, ``slurm_multinode``, or ``submitit_cpu`` with
  ``tasks_per_node`` > 1): nobody, so :func:`export_submitit_env` derives them from the job's
  SLURM_* (or SUBMITIT_LOCAL_*) variables with submitit's own ``TorchDistributedEnvironment``.

Every helper here is a no-op in a single process, so the same code runs under all of them.

DeepSpeed without ``accelerate launch`` (submitit, plain torchrun): set ``DVAO_ACCELERATE_CONFIG``
to one of launch/accelerate/*.yaml and :func:`export_accelerate_config` exports the ACCELERATE_*
variables that ``accelerate launch --config_file`` would have set (computed by accelerate's own
launcher code), which TRL's TrainingArguments read to build the DeepSpeed plugin.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

TORCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")
ACCELERATE_CONFIG_ENV = "DVAO_ACCELERATE_CONFIG"


def _group():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 else None


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) when there is none."""
    dist = _group()
    return (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)


def env_rank() -> int:
    """This process's global rank from the launcher's environment, before any process group exists:
    RANK (torchrun, accelerate, or after :func:`export_submitit_env`), else submitit's task id."""
    for key in ("RANK", "SUBMITIT_LOCAL_GLOBALID", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def gather_to_main(obj: Any) -> list[Any] | None:
    """``obj`` of every rank, in rank order, on rank 0 (None elsewhere); ``[obj]`` in one process."""
    dist = _group()
    if dist is None:
        return [obj]
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; keep it small)."""
    dist = _group()
    if dist is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def export_submitit_env() -> dict[str, str] | None:
    """Inside a submitit job with several tasks, export the torch.distributed variables derived from
    the job (SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS, SLURM_JOB_NODELIST, ...) and return them.

    MASTER_ADDR is the job's first node; MASTER_PORT is drawn from the job id (the same in every task,
    different for each array task) unless already set. CUDA_VISIBLE_DEVICES is left alone: the
    launcher yamls give every task all of the node's GPUs and accelerate picks ``cuda:LOCAL_RANK``.
    Returns None (and exports nothing) outside submitit, for a one-task job, or when a launcher
    (torchrun/accelerate inside the job) has already set RANK and WORLD_SIZE.
    """
    if not os.environ.get("SUBMITIT_EXECUTOR") or ("RANK" in os.environ and "WORLD_SIZE" in os.environ):
        return None
    import submitit
    from submitit.helpers import TorchDistributedEnvironment

    if submitit.JobEnvironment().num_tasks <= 1:
        return None
    TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    return {k: os.environ[k] for k in TORCH_ENV}


def accelerate_env(config_file: str | os.PathLike) -> dict[str, str]:
    """The ACCELERATE_* variables ``accelerate launch --config_file <config_file>`` gives each process,
    computed by accelerate's own argument validation and launcher preparation (no GPU needed)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config_file), "-m", "workbench.run"])
    args, defaults, precision_from_config = _validate_launch_command(args)
    if args.use_deepspeed:  # as accelerate.commands.launch.launch_command does before deepspeed_launcher
        fields = list(defaults.deepspeed_config) + (["mixed_precision"] if precision_from_config else [])
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return {k: v for k, v in env.items() if k.startswith("ACCELERATE_")}


def export_accelerate_config() -> dict[str, str] | None:
    """Export :func:`accelerate_env` of ``$DVAO_ACCELERATE_CONFIG`` when set and ``accelerate launch``
    has not already configured this process; return what was exported."""
    path = os.environ.get(ACCELERATE_CONFIG_ENV)
    if not path:
        return None
    if "ACCELERATE_MIXED_PRECISION" in os.environ:  # set by accelerate launch: its own config wins
        log.warning("%s=%s ignored: accelerate launch already configured this process", ACCELERATE_CONFIG_ENV, path)
        return None
    if not Path(path).is_file():
        raise FileNotFoundError(f"{ACCELERATE_CONFIG_ENV}={path}: no such file; point it at one of "
                                "launch/accelerate/*.yaml (an absolute path: jobs may start elsewhere)")
    env = accelerate_env(path)
    os.environ.update(env)
    return env


def setup_launch() -> None:
    """Before anything touches torch.distributed: the submitit and accelerate-config exports above."""
    export_submitit_env()
    export_accelerate_config()


def rank_suffix() -> str:
    """``""`` on rank 0, ``.rank<N>`` elsewhere: per-rank file names (Hydra's job log)."""
    rank = env_rank()
    return f".rank{rank}" if rank else ""
