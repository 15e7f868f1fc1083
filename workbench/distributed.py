"""Multi-process plumbing: which rank am I, small object collectives, and the environment that
torch.distributed needs when SLURM (through Hydra's submitit launcher) starts one task per GPU.

Launchers and what sets the torch.distributed variables (MASTER_ADDR, MASTER_PORT, RANK,
LOCAL_RANK, WORLD_SIZE):

- ``torchrun`` / ``accelerate launch``: the launcher itself, before Python starts;
- submitit (``hydra/launcher=slurm_multigpu``, ``slurm_multinode``, or ``submitit_cpu`` with
  ``tasks_per_node`` > 1): nobody, so :func:`export_submitit_env` derives them from the job's
  SLURM_* (or SUBMITIT_LOCAL_*) variables with submitit's own ``TorchDistributedEnvironment``.

Every helper here is a no-op in a single process, so the same code runs under all of them.
"""
from __future__ import annotations

import os
from datetime import datetime
from typing import Any

TORCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


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


def launch_id() -> str:
    """A name for this launch that every rank computes alike: Hydra's single-run output folder.

    One process: the usual ``%Y-%m-%d/%H-%M-%S``. Under torchrun (and accelerate launch, which is
    torchrun underneath) each rank would read its own clock and could land in another second, so
    the folder is named after the rendezvous id that torchrun gives every rank (``--standalone``:
    a fresh id per launch; multi-node: the ``--rdzv-id`` you pass). Submitit jobs are multiruns:
    they write under ``hydra.sweep.dir``, fixed before the jobs start.
    """
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id and "WORLD_SIZE" in os.environ:
        return f"torchrun-{run_id}"
    return datetime.now().strftime("%Y-%m-%d/%H-%M-%S")


def rank_suffix() -> str:
    """``""`` on rank 0, ``.rank<N>`` elsewhere: per-rank file names (Hydra's job log)."""
    rank = env_rank()
    return f".rank{rank}" if rank else ""
