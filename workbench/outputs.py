"""The folders around a run directory: Hydra's own output folders and the analysis' report folders.

The workbench writes or deletes only what it provably created, and that holds for these folders too:

- **Hydra's folders** (``hydra.run.dir`` of a single run, ``hydra.sweep.dir`` of a multirun) are claimed by
  ``HydraFolders`` before Hydra writes anything there: a new (or empty) folder gets the marker
  ``.workbench-hydra``; a folder holding Hydra files (``.hydra/``, ``multirun.yaml``, ``jobs.jsonl``, a job
  log) without that marker is somebody else's and the command is refused, as is a folder inside a run
  directory (Hydra would write into the run) or a run directory itself.
- **Report folders** (``--out`` of ``analysis.pareto``, ``analysis.stability``, ``analysis.ablation`` and
  ``workbench.sim.report``): ``check_report_dir`` accepts a new folder, an empty one, or one holding the
  marker ``.workbench-report`` (written by ``claim_report_dir`` when the report first writes there), and
  refuses anything else (a user's folder, a run directory, a folder inside a run) before anything is read.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from workbench import store

HYDRA_MARKER = ".workbench-hydra"
REPORT_MARKER = ".workbench-report"
# Files Hydra or the sweep report writes into its folders: present without our marker, they are someone else's.
HYDRA_FILES = (".hydra", "multirun.yaml", "jobs.jsonl", ".jobs", ".submitit")


class FolderRefused(ValueError):
    """A folder the workbench will not write into; the message says why and what to use instead."""


def _record() -> str:
    return json.dumps({"created": time.time(), "host": socket.gethostname(), "pid": os.getpid()})


def _looks_like_run(path: Path) -> bool:
    """A run directory: the store's marker, or an older run's config.yaml beside its status.json."""
    return store.is_run_dir(path) or ((path / store.CONFIG).is_file() and (path / store.STATUS).is_file())


def _enclosing_run(path: Path) -> Path | None:
    """``path`` itself or its nearest parent that is a run directory, else None."""
    real = path.resolve()
    return next((p for p in (real, *real.parents) if _looks_like_run(p)), None)


def _mark(path: Path, marker: str) -> None:
    """Create ``path`` if missing and write ``marker`` into it (never replacing an existing one)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path / marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return
    try:
        os.write(fd, _record().encode())
    finally:
        os.close(fd)


# ---- Hydra's folders ----------------------------------------------------------------------------
def hydra_folder_problem(folder: Path, key: str, job_name: str | None = None) -> str | None:
    """Why Hydra may not write into ``folder`` (the value of ``key``), or None."""
    if not str(folder).strip():
        return f"{key} is empty; give a folder for Hydra's logs, or leave {key} unset."
    run = _enclosing_run(folder)
    if run is not None:
        where = "is the run directory" if run == folder.resolve() else "is inside the run directory"
        return (f"{key}={str(folder)!r} {where} {run}: Hydra's files (.hydra/, logs) would land in the run. "
                f"Leave {key} unset, or give a folder outside every run directory.")
    if folder.exists() and not folder.is_dir():
        return f"{key}={str(folder)!r} is a file; give a folder for Hydra's logs, or leave {key} unset."
    if not folder.is_dir() or (folder / HYDRA_MARKER).exists() or _legacy_workbench_sweep(folder):
        return None
    foreign = [name for name in HYDRA_FILES + ((f"{job_name}.log",) if job_name else ()) if (folder / name).exists()]
    if foreign:
        return (f"{key}={str(folder)!r} holds {', '.join(foreign)} that the workbench did not write (no "
                f"{HYDRA_MARKER}); Hydra would overwrite or delete them. Use a new folder, or leave {key} unset "
                f"(a unique folder per launch).")
    return None


def _legacy_workbench_sweep(folder: Path) -> bool:
    """A sweep folder written by a workbench from before the marker: its multirun.yaml names the workbench's
    sweep report callback (Hydra saves the whole config there), so its files are the workbench's."""
    try:
        return "workbench.sweep.SweepReport" in (folder / "multirun.yaml").read_text(errors="replace")
    except OSError:
        return False


def claim_hydra_folder(folder: Path, key: str, job_name: str | None = None) -> None:
    """Refuse (FolderRefused) or mark ``folder`` as the workbench's before Hydra writes into it."""
    problem = hydra_folder_problem(folder, key, job_name)
    if problem:
        raise FolderRefused(problem)
    try:
        _mark(folder, HYDRA_MARKER)
    except OSError as exc:
        raise FolderRefused(f"{key}={str(folder)!r} cannot be created: {exc.strerror or exc}. "
                            f"Give a folder you can write.") from None


def _refuse(message: str) -> None:
    # Hydra's callbacks run before logging is set up: one plain line on stderr, exit 2 as for a bad config.
    print(f"Error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


try:
    from hydra.experimental.callback import Callback
except ImportError:  # analysis-only installs: the report helpers below need no Hydra
    Callback = object  # type: ignore[misc,assignment]


class HydraFolders(Callback):
    """conf/config.yaml's ``hydra.callbacks.hydra_folders``: claims hydra.run.dir / hydra.sweep.dir."""

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        folder = Path(str(config.hydra.run.dir))
        try:
            run_dir = Path(str(config.run_dir))
        except Exception:  # an unresolvable run_dir: the run's own validation says what is wrong
            run_dir = None
        if run_dir is not None and str(run_dir).strip() and (
                folder.resolve() == run_dir.resolve() or run_dir.resolve() in folder.resolve().parents):
            _refuse(f"hydra.run.dir={str(folder)!r} is the run's own run_dir (or inside it): Hydra's files would "
                    f"make it a folder the workbench did not create. Leave hydra.run.dir unset.")
        try:
            claim_hydra_folder(folder, "hydra.run.dir", str(config.hydra.job.name))
        except FolderRefused as exc:
            _refuse(str(exc))

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        try:
            claim_hydra_folder(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")
        except FolderRefused as exc:
            _refuse(str(exc))


# ---- report folders ----------------------------------------------------------------------------
def check_report_dir(out: Any, flag: str = "--out") -> Path:
    """``out`` as a Path when the analysis may write there, else FolderRefused (before anything is read)."""
    if out is None or not str(out).strip():
        raise FolderRefused(f"{flag} is empty; pass a folder for the report (created if missing).")
    path = Path(str(out)).expanduser()
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise FolderRefused(f"{flag} {out}: {p} is a file, not a folder; pass a folder (created if missing).")
    run = _enclosing_run(path)
    if run is not None:
        where = "is a run directory" if run == path.resolve() else f"is inside the run directory {run}"
        raise FolderRefused(f"{flag} {out} {where}; a report never writes into a run. Pass another folder, "
                            f"e.g. reports/<name>.")
    if path.is_dir() and not (path / REPORT_MARKER).exists() and any(path.iterdir()):
        raise FolderRefused(f"{flag} {out} is a folder that the analysis did not create (no {REPORT_MARKER}) and "
                            f"is not empty; its files would be overwritten. Pass a new or empty folder, e.g. "
                            f"{path.with_name(path.name + '-report')}.")
    return path


def claim_report_dir(out: Any) -> Path:
    """Create ``out`` (checked by ``check_report_dir``) and mark it as the analysis' own."""
    path = check_report_dir(out)
    _mark(path, REPORT_MARKER)
    return path
