"""Ctrl-C ends every command in one line. An interrupt that lands in a finaliser (a weakref
callback, a `__del__`), where Python cannot raise it and prints "Exception ignored in ...
Traceback" instead, is delivered again, so that the ordinary KeyboardInterrupt handling (the
command's one line, a tuning worker's quiet exit) sees it. A tuning worker lets Ctrl-C in only
where Optuna can record it (`InterruptGate`)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: Seconds after which an interrupt is delivered again: sent at once, it would be raised in this
#: hook, which is no better place than the finaliser; a moment later the finaliser has returned.
REDELIVER_AFTER_S = 0.01


def _redeliver(unraisable: sys.UnraisableHookArgs) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        timer = threading.Timer(REDELIVER_AFTER_S, os.kill, (os.getpid(), signal.SIGINT))
        timer.daemon = True
        timer.start()
        return
    sys.__unraisablehook__(unraisable)


def redeliver_interrupts() -> None:
    """Install the hook for this process (the command's, and each tuning worker's)."""
    sys.unraisablehook = _redeliver


class InterruptGate:
    """Ctrl-C raised only inside `open()` blocks (a tuning trial's training and scoring).

    Optuna creates a trial before the objective runs and records its end after; a
    KeyboardInterrupt raised in either place escapes Optuna's handling and leaves the trial
    RUNNING in the storage for good (until the heartbeat's grace period, where there is one).
    An interrupt that arrives outside an open block is held: it is raised when the next block
    opens (inside the objective, so Optuna records that trial failed), or by `raise_held()`
    when the study ends first. One that arrives while an earlier one is being handled, outside
    a block, is absorbed."""

    def __init__(self) -> None:
        self.held = False
        self._open = False

    def _handle(self, signum: int, frame: object) -> None:
        self.held = True
        if self._open:
            raise KeyboardInterrupt

    def install(self) -> signal.Handlers | Callable | int | None:
        """Make this gate the process's SIGINT handler (main thread only); returns the previous one."""
        return signal.signal(signal.SIGINT, self._handle)

    @contextmanager
    def installed(self) -> Iterator[InterruptGate]:
        """The gate as SIGINT handler for a block; the previous handler after it (the gate
        itself where it was the handler already)."""
        previous = self.install()
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextmanager
    def open(self) -> Iterator[None]:
        """A block that Ctrl-C may interrupt at once; a held interrupt is raised on entry."""
        self.raise_held()
        self._open = True
        try:
            yield
        finally:
            self._open = False

    def raise_held(self) -> None:
        """Raise the interrupt that arrived after the last block closed, if one did."""
        if self.held:
            raise KeyboardInterrupt
