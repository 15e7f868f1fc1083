"""Graceful stop: SIGTERM (SLURM preemption, ``timeout``, ``kill``) and SIGINT (Ctrl-C) end a run at the
next step boundary, after saving a checkpoint there, instead of wherever the signal lands.

    with graceful_stop() as stop:
        ...                   # the training loop calls stop.check(step) at step boundaries (LLM runs:
                              # StopCallback saves a checkpoint first); it raises Interrupted

The first signal only sets the flag (and says so in the log); a second one raises ``Interrupted`` at
once, which the run logger records as interrupted at the last logged step. Handlers are installed only
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
        if self.requested:
            raise Interrupted(f"{name} received twice: stopped at once", signum)
        self.request(f"{name} received", signum)
        log.warning("%s: stopping at the end of this step (LLM runs save a checkpoint there); send it again to "
                    "stop at once", name)

    def check(self, step: int | None) -> None:
        """Raise Interrupted when a stop was requested (the training loop calls it at step boundaries)."""
        if self.requested:
            raise Interrupted(f"{self.reason}: stopped after step {step}", self.signum)


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, stop.handle)
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
