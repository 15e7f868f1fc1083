"""Graceful stop: SIGTERM (SLURM preemption, ``timeout``, ``kill``) and SIGINT (Ctrl-C) end a run at the
next step boundary, after saving a checkpoint there, instead of wherever the signal lands.

    with graceful_stop() as stop:
        ...                   # the training loop calls stop.check(step) at step boundaries (LLM runs:
                              # StopCallback saves a checkpoint first); it raises Interrupted

The first signal only sets the flag (and says so in the log); a second one raises ``Interrupted`` at
once, which the run logger records as interrupted at the last logged step. A step that does not reach its
boundary within ``GRACE_S`` seconds of the first signal (a long generation) is stopped at once as if the
signal had come twice: a preempted job has little time, and its last checkpoint is still there to resume.
The training loop calls ``at_boundary()`` when it starts its final save, which ends that grace timer. Handlers are installed only
in the main thread (Python delivers signals there) and the previous ones are restored on exit.
"""
from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)
GRACE_S = 20.0  # after the first signal, how long a step may run on before the run stops at once


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (or lost its lock); a KeyboardInterrupt, so ``except Exception`` in
    library code does not swallow it."""

    def __init__(self, reason: str, signum: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum if self.signum else 1


class StopRequest:
    """Set by a signal handler (or by ``request``); read by the training loop at step boundaries."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signum: int | None = None
        self.save = True      # save a checkpoint before stopping (not when the run's lock was lost)

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str, signum: int | None = None, save: bool = True) -> None:
        if self.reason is None:
            self.reason, self.signum = reason, signum
        self.save = self.save and save

    def handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGALRM:
            raise Interrupted(f"{self.reason}, and the step did not end within {GRACE_S:.0f} s: stopped at once "
                              f"(resume=true continues from the last checkpoint)", self.signum)
        if self.requested:
            raise Interrupted(f"{name} received twice: stopped at once", signum)
        self.request(f"{name} received", signum)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, self.handle)
            signal.setitimer(signal.ITIMER_REAL, GRACE_S)
        log.warning("%s: stopping at the end of this step (LLM runs save a checkpoint there; at most %.0f s from "
                    "now); send it again to stop at once", name, GRACE_S)

    def at_boundary(self) -> None:
        """The loop reached a step boundary after a stop request: no more grace timer (its save may take long)."""
        if threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)

    def check(self, step: int | None) -> None:
        """Raise Interrupted when a stop was requested (the training loop calls it at step boundaries)."""
        if self.requested:
            self.at_boundary()
            raise Interrupted(f"{self.reason}: stopped after step {step}", self.signum)


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS + (signal.SIGALRM,)}
    for s in SIGNALS:
        signal.signal(s, stop.handle)
    try:
        yield stop
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, handler in previous.items():
            signal.signal(s, handler)
