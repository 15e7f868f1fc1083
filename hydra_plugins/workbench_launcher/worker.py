"""``python -m hydra_plugins.workbench_launcher.worker``: a worker of the local launcher (local_launcher.py).

Reads one line per job from stdin, ``<job_in>\\t<job_out>``: runs the pickled Hydra job in this process,
as joblib's workers do, and pickles its JobReturn to ``job_out`` (written atomically: the launcher takes
the file's appearance as the job's end). Exits when stdin closes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def run_one(job_in: str, job_out: str) -> None:
    import cloudpickle
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.singleton import Singleton
    from hydra.core.utils import run_job, setup_globals

    hydra_context, task_function, cfg, state = cloudpickle.loads(Path(job_in).read_bytes())
    setup_globals()
    Singleton.set_state(state)
    HydraConfig.instance().set_config(cfg)
    ret = run_job(hydra_context=hydra_context, task_function=task_function, config=cfg,
                  job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
    tmp = Path(job_out + ".tmp")
    tmp.write_bytes(cloudpickle.dumps(ret))
    os.replace(tmp, job_out)


def main() -> None:
    for line in sys.stdin:
        if line.strip():
            run_one(*line.rstrip("\n").split("\t"))


if __name__ == "__main__":
    main()
