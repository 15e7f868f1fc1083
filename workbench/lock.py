"""One writer per run directory: a lock file made with O_CREAT|O_EXCL, a heartbeat, and stale-lock detection.

    with RunLock(run_dir) as lock:     # raises LockBusy naming the live holder (host, pid, since when)
        ...                            # a daemon thread refreshes the lock file's mtime every HEARTBEAT_S

The lock is the file ``<run_dir>/.workbench-lock``: JSON with the holder's host, pid, start time, a random
token and its SLURM job id / restart count. O_CREAT|O_EXCL is atomic on local filesystems, NFSv3+ and
Lustre, unlike flock (per-node on Lustre without ``-o flock``, emulated or absent on old NFS). A lock
whose holder is gone counts as stale and is taken over:

- same host: the pid no longer exists, or it was reused by a process started after the lock;
- a requeued SLURM job (same SLURM_JOB_ID, another SLURM_RESTART_COUNT): its earlier incarnation is dead;
- another host: the heartbeat (the lock file's mtime) is older than ``timeout()`` seconds
  (WORKBENCH_LOCK_TIMEOUT, default 300: ten missed heartbeats, with room for NFS attribute caching and
  clock skew between hosts; a holder on another host that is alive but cannot touch the file for that
  long loses the lock, notices it at its next heartbeat and stops).

Taking over renames the stale file to a unique name first, so two processes racing for one stale lock
cannot both win; the loser sees it moved a lock that is not the stale one, puts it back and reports busy.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LOCK = ".workbench-lock"
TIMEOUT_ENV = "WORKBENCH_LOCK_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
HEARTBEAT_S = 30.0
UNREADABLE_STALE_S = 10.0   # an empty/unparseable lock older than this is stale (holder_alive)


def timeout() -> float:
    """Seconds without a heartbeat after which a holder on another host counts as dead."""
    return float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S)


def heartbeat_interval() -> float:
    return min(HEARTBEAT_S, timeout() / 4)


@dataclass(frozen=True)
class Holder:
    """What a lock file says about the process holding it."""

    host: str
    pid: int
    started: float            # epoch seconds when the lock was taken
    token: str                # random; tells this holder's lock from a later one
    heartbeat: float          # the lock file's mtime
    slurm_job: str | None = None
    slurm_restart: str | None = None

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started)) if self.started else "?"
        return f"pid {self.pid} on host {self.host}, since {since} (heartbeat {max(time.time() - self.heartbeat, 0):.0f} s ago)"


class LockBusy(RuntimeError):
    """Another live process holds the run directory's lock."""

    def __init__(self, run_dir: Path, holder: Holder):
        self.holder = holder
        super().__init__(f"run_dir={str(run_dir)!r} is in use by another process: {holder.describe()}. "
                         f"Wait for it to finish (or stop it), or choose another run_dir. A lock left by a dead "
                         f"process is taken over automatically (same host: at once; other hosts: after "
                         f"{timeout():.0f} s without a heartbeat, {TIMEOUT_ENV}).")


def read_holder(run_dir: str | os.PathLike, name: str = LOCK) -> Holder | None:
    """The holder recorded in the lock file, or None when there is none. A file still being written
    (empty or partial JSON) reads as an unknown holder whose heartbeat is the file's mtime."""
    path = Path(run_dir) / name
    try:
        mtime = path.stat().st_mtime
        text = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = json.loads(text)
        return Holder(host=str(data["host"]), pid=int(data["pid"]), started=float(data["started"]),
                      token=str(data["token"]), heartbeat=mtime, slurm_job=data.get("slurm_job"),
                      slurm_restart=data.get("slurm_restart"))
    except (ValueError, KeyError, TypeError):
        return Holder(host="?", pid=-1, started=mtime, token="", heartbeat=mtime)


def _process_start_time(pid: int) -> float | None:
    """Epoch start time of a local process (Linux /proc), None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None


def holder_alive(holder: Holder, now: float | None = None) -> tuple[bool, str]:
    """(alive, why). See the module docstring for the rules."""
    now = time.time() if now is None else now
    age = now - holder.heartbeat
    if holder.pid < 0 and age > UNREADABLE_STALE_S:
        # An empty or unparseable lock: its writer died while writing it (e.g. a full disk). A live writer
        # fills it within milliseconds, so after a few seconds it blocks nobody.
        return False, f"the lock file is empty or unreadable and {age:.0f} s old (its writer died while writing it)"
    job = os.environ.get("SLURM_JOB_ID")
    if job and holder.slurm_job == job and holder.slurm_restart != os.environ.get("SLURM_RESTART_COUNT"):
        return False, f"SLURM job {job} was requeued since it took the lock"
    if holder.host == socket.gethostname() and holder.pid > 0:
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return False, f"pid {holder.pid} no longer exists on this host"
        except PermissionError:
            pass  # alive, another user's process
        started = _process_start_time(holder.pid)
        if started is not None and started > holder.started + 2:
            return False, f"pid {holder.pid} now belongs to a process started after the lock was taken"
        return True, f"pid {holder.pid} is running on this host"
    if age > timeout():
        return False, f"no heartbeat for {age:.0f} s (> {timeout():.0f} s, {TIMEOUT_ENV})"
    return True, f"heartbeat {age:.0f} s ago"


def live_holder(run_dir: str | os.PathLike) -> Holder | None:
    """The holder of the run directory's lock if it is alive, else None (free or stale)."""
    holder = read_holder(run_dir)
    return holder if holder is not None and holder_alive(holder)[0] else None


class RunLock:
    """The run directory's lock, held from ``acquire`` to ``release`` with a heartbeat thread."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK
        self.token = uuid.uuid4().hex
        self.lost = threading.Event()          # set when another process took the lock from us
        self.took_over: str | None = None      # why a stale lock was taken over, for the caller to report
        self.on_lost = None                    # called (from the heartbeat thread) when the lock is lost
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
                           "token": self.token, "slurm_job": os.environ.get("SLURM_JOB_ID"),
                           "slurm_restart": os.environ.get("SLURM_RESTART_COUNT")}).encode()

    def acquire(self) -> RunLock:
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._break_if_stale()
                continue
            try:
                os.write(fd, self._record())
                os.fsync(fd)
            except OSError:
                os.close(fd)
                self.path.unlink(missing_ok=True)  # our own half-written lock (a full disk) must not block a resume
                raise
            else:
                os.close(fd)
            self._thread = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
            self._thread.start()
            return self
        raise LockBusy(self.dir, read_holder(self.dir) or Holder("?", -1, 0.0, "", time.time()))

    def _break_if_stale(self) -> None:
        """Raise LockBusy for a live holder; move a stale lock out of the way (see the module docstring)."""
        holder = read_holder(self.dir)
        if holder is None:
            return  # released meanwhile: try again
        alive, why = holder_alive(holder)
        if alive:
            raise LockBusy(self.dir, holder)
        aside = f"{LOCK}.stale-{self.token}"
        try:
            os.rename(self.path, self.dir / aside)
        except FileNotFoundError:
            return  # another process broke it first
        moved = read_holder(self.dir, aside)
        if moved is not None and moved.token != holder.token:  # a fresh lock replaced the stale one: restore it
            try:
                os.link(self.dir / aside, self.path)
            except OSError:
                pass
            (self.dir / aside).unlink(missing_ok=True)
            raise LockBusy(self.dir, moved)
        (self.dir / aside).unlink(missing_ok=True)
        self.took_over = f"{holder.describe()}: {why}"
        log.warning("%s: took over the stale lock of %s", self.dir, self.took_over)

    def owned(self) -> bool:
        holder = read_holder(self.dir)
        return holder is not None and holder.token == self.token

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_interval()):
            if not self.owned():
                self.lost.set()
                log.error("%s: another process took over this run's lock; this process stops writing", self.dir)
                if self.on_lost is not None:
                    self.on_lost()
                return
            try:
                os.utime(self.path)
            except OSError as exc:  # e.g. NFS hiccup: the next beat tries again
                log.warning("%s: heartbeat failed: %s", self.path, exc)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.owned():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
