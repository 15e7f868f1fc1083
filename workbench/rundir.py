"""What a run may do with its ``run_dir``, decided before anything is written, and the claim on it.

    with claim(spec, resolved) as c:        # ConfigError / LockBusy before any write
        c.plan.action                       # start | resume | replace | return (a finished run's summary)
        c.store                             # the RunStore to write (rank 0; None on other ranks)

The rules (docs/faults.md lists them with the faults tried):

- ``check_path`` refuses, before any write, run_dirs that cannot be a run: empty, ``/``, the home folder,
  the working directory or a parent of it, the checkout or one of its own folders, a file, a folder
  inside another run.
- Only a directory holding the marker (workbench/store.py) is resumed, locked, replaced or written; an
  empty directory is adopted. A folder written by an older workbench (config.yaml, no marker) is read-only.
- ``resume=false`` meeting an existing run refuses (saying what to type) unless ``overwrite=true``, or unless it
  is this very run, finished (same identity and steps): then it is returned as it is ("skipped"), as make does.
- ``resume=true`` first checks identity: the whole resolved config except ``MAY_CHANGE_ON_RESUME``.
- The decision is made once read-only, then again under the run's lock (workbench/lock.py), which the
  run then holds to the end. Under torchrun only rank 0 decides and writes; the others get its decision.
"""
from __future__ import annotations

import json
import logging
import os
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from workbench import store
from workbench.lock import LockBusy, RunLock, holder_alive, read_holder
from workbench.train.config import CONF_DIR, ConfigError

log = logging.getLogger(__name__)

# Keys a resume may change: how long to train, how often to evaluate and save, where and how to log.
# ``sweep`` only names the W&B group: sweeps that share a run directory (the bandit sweeps' common point
# in runs/sim) must find each other's runs. Everything else in the resolved config is the run's identity.
MAY_CHANGE_ON_RESUME = ("steps", "resume", "overwrite", "threads", "run_dir", "sweep", "eval.every",
                        "eval.batch_size", "train.save_every", "train.save_limit", "logger")
# Identity keys added after runs were made: a run directory whose config.yaml lacks one ran with this value (the
# TRL defaults and no dynamic sampling), so resume=true and a sweep's re-run still find it the same run.
ADDED_KEYS = {"loss.name": "trl", "loss.loss_type": None, "loss.importance_sampling_level": None, "loss.epsilon": None,
              "loss.epsilon_high": None, "loss.num_iterations": None, "train.dynamic_sampling": "off",
              "train.dynamic_sampling_rounds": 4}
CHECKOUT = CONF_DIR.parent
SOURCE_DIRS = ("conf", "workbench", "analysis", "tests", "sweeps", "bench", "docs", "hydra_plugins", ".git",
               ".venv")
EXAMPLE = "run_dir=runs/my-run (or leave run_dir unset for runs/<sweep>/<task>/<method>-...)"


@dataclass(frozen=True)
class Plan:
    action: str                          # start | resume | replace | return
    resume_from: str | None = None       # checkpoint directory to resume from
    from_step: int = 0                   # records after this step are dropped and trained again
    summary: dict | None = None          # action "return": the finished run's summary
    notes: tuple[str, ...] = field(default=())  # warnings for the log (damaged checkpoints, legacy runs)


# ---- paths --------------------------------------------------------------------------------------
def check_path(run_dir: Any) -> Path:
    """The run directory as a Path, or ConfigError when it can never be a run directory."""
    if run_dir is None or not str(run_dir).strip():
        raise ConfigError(f"run_dir is empty; give a new folder, e.g. {EXAMPLE}.")
    path = Path(str(run_dir)).expanduser()
    real = path.resolve()
    cwd, home, checkout = Path.cwd().resolve(), Path.home().resolve(), CHECKOUT.resolve()
    why = None
    if real == Path(real.anchor):
        why = "is the filesystem root"
    elif real == home:
        why = "is your home folder"
    elif real == cwd or real in cwd.parents:
        why = "is the working directory or a parent of it"
    elif real == checkout:
        why = "is the workbench checkout"
    elif real.parent == checkout and not store.is_run_dir(real):
        why = "is a top-level folder of the workbench checkout"
    elif checkout in real.parents and real.relative_to(checkout).parts[0] in SOURCE_DIRS:
        why = f"is inside the checkout's {real.relative_to(checkout).parts[0]}/ folder"
    elif real.exists() and not real.is_dir():
        why = "is a file"
    else:
        outer = next((p for p in real.parents if store.is_run_dir(p)), None)
        if outer is not None:
            why = f"is inside the run directory {outer}"
    if why:
        raise ConfigError(f"run_dir={str(run_dir)!r} {why}; a run needs a folder of its own. Use e.g. {EXAMPLE}.")
    return path


# ---- identity -----------------------------------------------------------------------------------
def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


def may_change(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in MAY_CHANGE_ON_RESUME)


_ABSENT = "<absent>"


def identity_diff(saved: dict, now: dict) -> list[tuple[str, Any, Any]]:
    """(key, value in the run dir, value now) for every identity key that differs, sorted by key."""
    a, b = {**ADDED_KEYS, **_flatten(saved)}, _flatten(now)
    keys = sorted(k for k in set(a) | set(b) if not may_change(k))
    return [(k, a.get(k, _ABSENT), b.get(k, _ABSENT)) for k in keys if a.get(k, _ABSENT) != b.get(k, _ABSENT)]


def _saved_config(path: Path) -> dict | None:
    try:
        saved = yaml.safe_load((path / store.CONFIG).read_text())
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: not UTF-8
        return None
    return saved if isinstance(saved, dict) else None


def _check_identity(path: Path, saved: dict | None, resolved: dict) -> None:
    if saved is None:
        raise ConfigError(f"resume=true but run_dir={str(path)!r} has no readable {store.CONFIG}, so it cannot be "
                          f"checked to be the same run; use overwrite=true to replace it, or another run_dir.")
    diff = identity_diff(saved, resolved)
    if diff:
        lines = "".join(f"\n  {k}: {before!r} in the run dir, {after!r} now" for k, before, after in diff)
        raise ConfigError(f"resume=true but run_dir={str(path)!r} holds a different run ({len(diff)} key(s) differ):"
                          f"{lines}\nResume with the run's own values, or start a new run elsewhere "
                          f"(another run_dir=..., or overwrite=true to replace it). Keys a resume may change: "
                          f"{', '.join(MAY_CHANGE_ON_RESUME)}.")


# ---- checkpoints --------------------------------------------------------------------------------
def checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """``checkpoint-<step>`` directories (transformers' layout), newest first."""
    found = [(int(p.name.rsplit("-", 1)[1]), p) for p in Path(ckpt_dir).glob("checkpoint-*")
             if p.is_dir() and p.name.rsplit("-", 1)[1].isdigit()]
    return sorted(found, reverse=True)


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why ``ckpt`` cannot be resumed from (naming the file), or None when its files open. Cheap: reads the
    trainer state, every safetensors header and every torch file's zip directory, not the tensors."""
    from safetensors import safe_open

    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
        int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{ckpt / 'trainer_state.json'}: {type(exc).__name__}: {exc}"
    weights = sorted(ckpt.glob("*.safetensors"))
    for f in weights:
        try:
            with safe_open(str(f), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error types
            return f"{f}: {exc}"
    torch_files = sorted(p for p in ckpt.iterdir() if p.suffix in (".pt", ".pth", ".bin"))
    for f in torch_files:
        try:
            with zipfile.ZipFile(f) as archive:  # torch.save's format: a zip whose directory sits at the end
                archive.namelist()
        except (OSError, zipfile.BadZipFile) as exc:
            return f"{f}: not a complete torch file ({exc})"
    if not weights and not any(f.name.startswith(("pytorch_model", "adapter_model")) for f in torch_files):
        return f"{ckpt}: no model weights"
    return None


def newest_intact_checkpoint(ckpt_dir: Path) -> tuple[Path | None, int, list[str]]:
    """(checkpoint, its step, warnings): the newest checkpoint whose files open; damaged newer ones are
    named in the warnings (left on disk; the next save at their step replaces them)."""
    notes = []
    for step, path in checkpoints(ckpt_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            if notes:
                notes.append(f"resuming from the newest intact checkpoint instead: {path}")
            return path, step, notes
        notes.append(f"checkpoint {path.name} is damaged and skipped: {problem}")
    return None, 0, notes


# ---- the decision -------------------------------------------------------------------------------
def _describe_existing(path: Path, saved: dict | None) -> str:
    """E.g. "a run of method=dvao on task=math (interrupted at step 12 of 40)"."""
    method = ((saved or {}).get("method") or {}).get("name", "?")
    task = ((saved or {}).get("task") or {}).get("name", "?")
    state = store.run_state(path)
    if state.status is None:
        what = "status.json missing or unreadable"
    elif state.status == store.DONE:
        what = f"done at step {state.step}"
    else:
        what = f"{state.status} at step {state.step} of {(saved or {}).get('steps', '?')}"
    return f"a run of method={method} on task={task} ({what})"


def _busy(path: Path, own_token: str | None) -> None:
    holder = read_holder(path)
    if holder is not None and holder.token != own_token and holder_alive(holder)[0]:
        raise LockBusy(path, holder)


def decide(path: Path, run, resolved: dict, own_token: str | None = None) -> Plan:
    """What ``run`` does with ``path`` (see the module docstring). Reads only; raises ConfigError or
    LockBusy when the run may not go ahead. ``own_token``: the lock this process holds on ``path``."""
    if not path.exists():
        return Plan("start")
    marked = store.is_run_dir(path)
    saved, status = _saved_config(path), store.read_status(path)
    if not marked:
        if not any(path.iterdir()):
            return Plan("start", notes=(f"adopting the empty folder {path} as the run directory",))
        if saved is not None or status is not None:
            return _legacy(path, run, resolved, saved)
        raise ConfigError(f"run_dir={str(path)!r} is a folder that the workbench did not create (no {store.MARKER}) "
                          f"and is not empty; it is never written into. Use a new folder, e.g. {EXAMPLE}.")
    _busy(path, own_token)
    if saved is None and status is None and not (path / store.METRICS).exists():
        return Plan("start")  # created but never started: nothing to keep
    if not run.resume:
        if getattr(run, "overwrite", False):
            return Plan("replace", notes=(f"overwrite=true: replacing {_describe_existing(path, saved)} "
                                          f"in {path}",))
        finished = _finished_same_run(path, run, resolved, saved, status)
        if finished is not None:  # as make does: the same run, already done; nothing on disk changes
            return Plan("return", summary=finished)
        raise ConfigError(
            f"run_dir={str(path)!r} already holds {_describe_existing(path, saved)}; nothing was changed. "
            f"Add resume=true to continue it or get its results (a finished run is returned as it is; a larger "
            f"steps=... trains on), overwrite=true to replace it, or choose another run_dir=... (or seed=...) "
            f"to keep it and start a new run.")
    _check_identity(path, saved, resolved)
    summary = _read_summary(path) if status is not None and status.get("status") == store.DONE else None
    if summary is not None:  # (a done run whose summary is unreadable resumes: its final evaluation is redone)
        done = int(summary.get("step") or status.get("step") or 0)
        if run.steps < done:
            raise ConfigError(f"steps={run.steps} is below the {done} steps that the finished run in "
                              f"run_dir={str(path)!r} trained; use steps={done} to get its results, more to "
                              f"train on, or overwrite=true to replace it.")
        if run.steps == done:
            return Plan("return", summary=summary)
    ckpt, step, notes = newest_intact_checkpoint(path / store.CHECKPOINTS)
    if notes and ckpt is None:
        raise ConfigError(f"resume=true but no checkpoint in {path / store.CHECKPOINTS} can be loaded:\n  "
                          + "\n  ".join(notes) + "\nResuming would retrain from step 0 and drop the logged records; "
                          "use overwrite=true to do that, or another run_dir.")
    if run.steps < step:
        raise ConfigError(f"steps={run.steps} is below step {step} of the checkpoint that run_dir={str(path)!r} "
                          f"would resume from; use steps>={step}, or overwrite=true to start again.")
    return Plan("resume", resume_from=str(ckpt) if ckpt else None, from_step=step, notes=tuple(notes))


def _finished_same_run(path: Path, run, resolved: dict, saved: dict | None, status: dict | None) -> dict | None:
    """The summary of the finished run in ``path`` when it is this very run (same identity, same steps)."""
    if saved is None or not status or status.get("status") != store.DONE or identity_diff(saved, resolved):
        return None
    summary = _read_summary(path)
    if summary is None or int(summary.get("step") or status.get("step") or -1) != run.steps:
        return None
    return summary


def _read_summary(path: Path) -> dict | None:
    try:
        summary = json.loads((path / store.SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def _legacy(path: Path, run, resolved: dict, saved: dict | None) -> Plan:
    """A run written before the marker existed: its finished summary may be read (resume=true, same
    identity, same steps); nothing in it is ever written or deleted."""
    summary = _read_summary(path) if store.is_done(path) else None
    if run.resume and saved is not None and summary is not None and not identity_diff(saved, resolved):
        if summary.get("step") == run.steps:
            return Plan("return", summary=summary, notes=(f"{path} predates the run marker: read-only",))
    raise ConfigError(f"run_dir={str(path)!r} holds a run written by an older workbench (no {store.MARKER}); it is "
                      f"kept read-only (analysis still reads it) and never resumed, replaced or written. "
                      f"Choose a new run_dir=... for this run (e.g. {path.name}-v2).")


# ---- the claim ----------------------------------------------------------------------------------
@dataclass
class Claim:
    plan: Plan
    store: store.RunStore | None = None    # rank 0 of a run that trains; None elsewhere
    lock: RunLock | None = None


@contextmanager
def _claim_here(run, resolved: dict) -> Iterator[Claim]:
    path = check_path(run.run_dir)
    plan = decide(path, run, resolved)
    if plan.action == "return":
        for note in plan.notes:
            log.warning(note)
        yield Claim(plan)
        return
    try:
        store.create_run_dir(path)
    except (store.NotARunDirectory, OSError) as exc:  # e.g. a parent that is a file, or not writable
        raise ConfigError(f"run_dir={str(path)!r} cannot be created: {exc}. Use a new folder you can write, "
                          f"e.g. {EXAMPLE}.") from None
    lock = RunLock(path).acquire()
    try:
        plan = decide(path, run, resolved, own_token=lock.token)  # again, now that nobody else can write
        if lock.took_over:
            plan = Plan(plan.action, plan.resume_from, plan.from_step, plan.summary,
                        plan.notes + (f"took over from a dead writer ({lock.took_over})",))
        for note in plan.notes:
            log.warning(note)
        if plan.action == "return":
            yield Claim(plan)
            return
        run_store = store.RunStore(path)
        if plan.action == "replace":
            run_store.clear()
        elif plan.action == "resume" and plan.resume_from is None:
            # No checkpoint to resume from: training starts at step 0 again. The records already logged are
            # kept under another name and the log says so; they are never dropped silently.
            for aside, n in run_store.set_aside_records():
                log.warning("resume=true found no checkpoint in %s: training restarts from step 0; the %d records "
                            "logged before are kept in %s (overwrite=true would have deleted them)",
                            path / store.CHECKPOINTS, n, aside)
            run_store.set_aside_summary()
        elif plan.action == "resume":
            run_store.truncate_after(plan.from_step)  # the steps after the checkpoint are trained again
            run_store.set_aside_summary()             # a finished run trained on: its summary is history
        yield Claim(plan, run_store, lock)
    finally:
        lock.release()


def _broadcast(value: Any) -> Any:
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def claim(run, resolved: dict, *, rank: int = 0, world: int = 1) -> Iterator[Claim]:
    """Claim ``run.run_dir`` (see the module docstring); held until the block ends. With ``world`` > 1
    processes (torch.distributed initialised), rank 0 claims and the others receive its plan or error."""
    if world <= 1:
        with _claim_here(run, resolved) as c:
            yield c
        return
    if rank != 0:
        kind, payload = _broadcast(None)
        if kind == "error":
            raise ConfigError(payload)
        yield Claim(payload)
        return
    shared = False
    try:
        with _claim_here(run, resolved) as c:
            _broadcast(("ok", c.plan))
            shared = True
            yield c
    except BaseException as exc:
        if not shared:  # the other ranks wait for the plan: tell them why there is none
            _broadcast(("error", f"rank 0: {type(exc).__name__}: {exc}"))
        raise
