"""Ctrl-C ends every command in one line. An interrupt that lands in a finaliser (a weakref
callback, a `__del__`), where Python cannot raise it and prints "Exception ignored in ...
Traceback" instead, is delivered again, so that the ordinary KeyboardInterrupt handling (the
command's one line, a tuning worker's quiet exit) sees it."""

from __future__ import annotations

import os
import signal
import sys
import threading

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
