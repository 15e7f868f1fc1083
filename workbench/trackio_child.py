"""`python -m workbench.trackio_child`: RunLogger's trackio backend, in a process of its own.

trackio reads its data folder (TRACKIO_DIR) once, when it is first imported, and TRL's import chain imports
it in the training process before any run is configured; so the workbench's writes go through this child,
started with TRACKIO_DIR set to ``<logger.root>/.trackio``. Protocol on stdin, one JSON object per line:
first the run (``project``, ``name``, ``group``, ``config``, ``store``: the run directory), then
``{"step": int, "values": {...}}`` per record; EOF finishes the run. The child answers ``ready`` on stdout
once the trackio run exists and holds the run store's records so far (an earlier trackio run of the same
name is deleted first: the store is what stays of it). It ignores SIGINT and SIGTERM: the training process
decides when to stop and closes stdin; if that process dies, EOF arrives all the same.
"""
from __future__ import annotations

import contextlib
import json
import signal
import sys


def replay(trackio, run_dir: str) -> int:
    """Log the run store's records (metrics.jsonl, then eval.jsonl) to the current trackio run; their count."""
    from pathlib import Path

    from workbench import metrics as M
    from workbench import store

    count = 0
    for name in (store.METRICS, store.EVAL):
        path = Path(run_dir) / name
        for record in store.read_jsonl(path) if path.exists() else ():
            step = record.pop(M.STEP, None)
            values = {k: v for k, v in record.items() if v is not None}
            if step is not None and values:
                trackio.log(values, step=int(step))
                count += 1
    return count


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    protocol, quiet = sys.stdout, contextlib.redirect_stdout(sys.stderr)  # trackio's own prints go to stderr
    run = json.loads(sys.stdin.readline())
    with quiet:
        import trackio

        try:
            earlier = [r for r in trackio.Api().runs(run["project"]) if r.name == run["name"]]
        except ValueError:  # trackio's "Project ... does not exist": the project's first run
            earlier = []
        for old in earlier:
            old.delete()
        trackio.init(project=run["project"], name=run["name"], group=run["group"], config=run["config"],
                     resume="never", embed=False, auto_log_cpu=False, auto_log_gpu=False)
        replay(trackio, run["store"])
    print("ready", file=protocol, flush=True)
    with quiet:
        for line in sys.stdin:
            record = json.loads(line)
            trackio.log(record["values"], step=record["step"])
        trackio.finish()


if __name__ == "__main__":
    main()
