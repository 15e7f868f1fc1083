"""Launch configurations (docs/scaling.md), checked without a GPU or a cluster: the accelerate files as
accelerate itself reads them, Hydra composing the same config on every rank, the SLURM launcher yamls
down to the sbatch script submitit would submit, and the torch.distributed variables exported from a
fake SLURM environment."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT
from workbench import distributed
from workbench.train import config as _resolvers  # noqa: F401  registers the ${wb.*} resolvers conf/ uses

ACCELERATE = {"ddp": ("MULTI_GPU", None), "zero2": ("DEEPSPEED", 2), "zero3": ("DEEPSPEED", 3)}
LAUNCH_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
              "TORCHELASTIC_RUN_ID", "SUBMITIT_EXECUTOR", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID",
              distributed.ACCELERATE_CONFIG_ENV)


@pytest.fixture
def clean_env(monkeypatch):
    """No launcher variables from the machine running the tests, and none left behind: the exports under
    test write os.environ directly, and a leaked WORLD_SIZE or MASTER_ADDR would make a later test's
    trainer wait for processes that never come."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key in LAUNCH_ENV or key.startswith(("SLURM_", "ACCELERATE_")):
            monkeypatch.delenv(key)
    yield monkeypatch
    monkeypatch.undo()  # first: it would put back values a test deleted after an export had set them
    os.environ.clear()
    os.environ.update(saved)


# ---- accelerate / DeepSpeed files -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(ACCELERATE))
def test_accelerate_files_are_what_accelerate_launch_reads(name, clean_env):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DeepSpeedPlugin

    path = ROOT / "launch" / "accelerate" / f"{name}.yaml"
    assert f"--config_file launch/accelerate/{name}.yaml" in path.read_text()  # the documented command
    kind, stage = ACCELERATE[name]
    config = load_config_from_file(str(path))  # raises on an unknown key
    assert config.distributed_type.value == kind and config.num_processes == 8 and not config.use_cpu
    assert config.mixed_precision == "no"  # model.dtype decides, through GRPOConfig bf16/fp16
    env = distributed.accelerate_env(path)  # accelerate's own launcher code
    assert env["ACCELERATE_MIXED_PRECISION"] == "no"
    if stage is None:
        assert "ACCELERATE_USE_DEEPSPEED" not in env
        return
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == str(stage)
    for key, value in env.items():
        clean_env.setenv(key, value)
    plugin = DeepSpeedPlugin()  # what TrainingArguments builds in each process from those variables
    assert plugin.zero_stage == stage and plugin.zero3_init_flag == (stage == 3)
    assert plugin.deepspeed_config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] == (stage == 3)


def test_accelerate_config_env_var_exports_deepspeed_settings(clean_env, tmp_path):
    clean_env.setenv(distributed.ACCELERATE_CONFIG_ENV, str(ROOT / "launch" / "accelerate" / "zero3.yaml"))
    exported = distributed.export_accelerate_config()
    assert exported["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3" and os.environ["ACCELERATE_USE_DEEPSPEED"] == "true"
    assert distributed.export_accelerate_config() is None  # already configured: not applied twice
    clean_env.delenv("ACCELERATE_MIXED_PRECISION")
    clean_env.setenv(distributed.ACCELERATE_CONFIG_ENV, str(tmp_path / "zero9.yaml"))
    with pytest.raises(FileNotFoundError, match="DVAO_ACCELERATE_CONFIG=.*zero9.yaml.*launch/accelerate"):
        distributed.export_accelerate_config()


# ---- Hydra under several ranks --------------------------------------------------------------
def compose_as(monkeypatch, rank: int | None, run_id: str | None = "3f2a", overrides=()):
    for key, value in {"RANK": rank, "LOCAL_RANK": rank, "WORLD_SIZE": 2 if rank is not None else None,
                       "TORCHELASTIC_RUN_ID": run_id if rank is not None else None}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, str(value))
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["model=qwen3-4b-base", *overrides], return_hydra_config=True)
    return cfg


def test_every_rank_composes_the_same_config_and_output_folder(clean_env):
    ranks = [compose_as(clean_env, r) for r in (0, 1)]
    jobs = [OmegaConf.to_container(OmegaConf.masked_copy(c, [k for k in c if k != "hydra"]), resolve=True) for c in ranks]
    assert jobs[0] == jobs[1] and jobs[0]["model"]["name"] == "qwen3-4b-base"
    dirs = [c.hydra.run.dir for c in ranks]
    assert dirs == ["outputs/torchrun/3f2a"] * 2  # not each rank's clock
    log = OmegaConf.to_container(ranks[0].hydra.job_logging, resolve=False)["handlers"]["file"]["filename"]
    assert log.endswith("${hydra.job.name}${wb.rank_suffix:}.log")
    assert distributed.rank_suffix() == ".rank1"  # RANK=1 is still set: rank 1 logs to <job>.rank1.log
    single = compose_as(clean_env, None)
    assert re.fullmatch(r"outputs/\d{4}-\d{2}-\d{2}/\d{2}-\d{2}-\d{2}-\d+", single.hydra.run.dir)  # -pid: one per process
    assert distributed.rank_suffix() == ""


# ---- SLURM through submitit -----------------------------------------------------------------
def sbatch_script(launcher_cfg, tmp_path: Path, monkeypatch) -> str:
    """The sbatch file submitit would write for this launcher config (hydra_submitit_launcher's own
    parameter mapping; a stand-in ``srun`` on PATH, since submitit refuses to start without one)."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 1\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    params = OmegaConf.to_container(launcher_cfg, resolve=True)
    params.pop("_target_")
    executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                     slurm_max_num_timeout=params.pop("max_num_timeout"))
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -u -m submitit.core._submit JOB", "uid")


@pytest.mark.parametrize("launcher, nodes", [("slurm_multigpu", 1), ("slurm_multinode", 2)])
def test_slurm_launchers_start_one_task_per_gpu(launcher, nodes, tmp_path, clean_env):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", return_hydra_config=True,
                      overrides=[f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}/sweep"])
    lc = cfg.hydra.launcher
    assert lc._target_.endswith("SlurmLauncher") and lc.tasks_per_node == lc.gpus_per_node == 8
    assert lc.nodes == nodes and lc.max_num_timeout > 0  # preempted/timed-out jobs are requeued
    script = sbatch_script(lc, tmp_path, clean_env)
    for line in (f"--nodes={nodes}", "--ntasks-per-node=8", "--gpus-per-node=8", "--signal=USR2@120"):
        assert f"#SBATCH {line}\n" in script, line
    assert "srun --unbuffered" in script and "export SUBMITIT_EXECUTOR=slurm" in script


def test_paper_sweeps_run_on_the_multi_gpu_launcher(tmp_path):
    from tests.test_sweeps import REQUIRED, compose_sweep

    for name in ("math_paper", "tool_paper"):
        cfg = compose_sweep(name, REQUIRED[name] + [f"hydra.sweep.dir={tmp_path}"])
        assert cfg.hydra.launcher.tasks_per_node == cfg.hydra.launcher.gpus_per_node == 8
        assert cfg.resume  # a requeued job continues from its checkpoint
        assert (cfg.train.prompts_per_step * cfg.G) % 8 == 0  # the batch splits over the 8 processes


def fake_slurm(monkeypatch, procid: int, localid: int, ntasks: int = 16, nodes: int = 2):
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    for key, value in {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": ntasks, "SLURM_JOB_NUM_NODES": nodes,
                       "SLURM_NODEID": procid // (ntasks // nodes), "SLURM_PROCID": procid, "SLURM_LOCALID": localid,
                       "SLURM_JOB_NODELIST": "gpu-a[07-08]"}.items():
        monkeypatch.setenv(key, str(value))


def test_slurm_variables_become_torch_distributed_ones(clean_env):
    fake_slurm(clean_env, procid=11, localid=3)
    env = distributed.export_submitit_env()
    assert {k: env[k] for k in ("MASTER_ADDR", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")} == {
        "MASTER_ADDR": "gpu-a07", "RANK": "11", "LOCAL_RANK": "3", "WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}
    assert 20000 <= int(env["MASTER_PORT"]) <= 60000 and all(os.environ[k] == v for k, v in env.items())
    assert "CUDA_VISIBLE_DEVICES" not in env  # every task sees the node's GPUs; accelerate picks cuda:LOCAL_RANK
    port = env["MASTER_PORT"]
    for key in distributed.TORCH_ENV:
        clean_env.delenv(key)
    fake_slurm(clean_env, procid=0, localid=0)
    assert distributed.export_submitit_env()["MASTER_PORT"] == port  # every task meets at the same port
    assert distributed.env_rank() == 0


def test_the_exports_above_leave_no_launcher_variable_behind():
    assert not [k for k in os.environ if k in distributed.TORCH_ENV or k.startswith(("SLURM_", "ACCELERATE_"))]


def test_no_export_outside_a_multi_task_job_or_under_torchrun(clean_env):
    assert distributed.export_submitit_env() is None  # not a submitit job
    fake_slurm(clean_env, procid=0, localid=0, ntasks=1, nodes=1)
    assert distributed.export_submitit_env() is None  # one task: a plain single-process run
    fake_slurm(clean_env, procid=1, localid=1)
    clean_env.setenv("RANK", "5")
    clean_env.setenv("WORLD_SIZE", "16")
    assert distributed.export_submitit_env() is None  # torchrun inside the job already set them
    assert os.environ["RANK"] == "5"


def test_a_batch_the_processes_cannot_share_says_what_would_work(clean_env, tmp_path):
    from tests.test_run_support import compose_cfg
    from workbench.train import config as C
    from workbench.train.llm import grpo_kwargs

    clean_env.setenv("WORLD_SIZE", "4")
    run = C.load(compose_cfg(["G=6", "train.prompts_per_step=3", "logger=none"]))  # 18 completions, 4 processes
    with pytest.raises(ValueError, match=r"multiple of 12 \(G=6 and 4 processes\), e.g. train.batch_size=12 or 24"):
        grpo_kwargs(run, [0.5, 0.5], str(tmp_path))
    run.train.batch_size = 24
    kwargs = grpo_kwargs(run, [0.5, 0.5], str(tmp_path))
    assert kwargs["per_device_train_batch_size"] * kwargs["gradient_accumulation_steps"] == 6  # 24 / 4 per process
