"""Ctrl-C and SIGTERM during training: stop after the current step and save, never a traceback."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(on_stop, what: str = "a checkpoint"):
    """Within the block, SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, schedulers) stop
    the work gracefully.

    The first signal calls ``on_stop()`` and says at once that the step is being finished and
    ``what`` saved; later ones only repeat that it is still stopping (raising inside a numba
    kernel would end in a traceback and no checkpoint). The previous handlers come back at the
    end of the block, unless a signal came: the process is then on its way out, and a late
    signal must not turn that into a traceback, so further ones are ignored.
    """
    received = []

    def handler(signum, frame):
        received.append(signum)
        if len(received) == 1:
            on_stop()
            _say(f"Stopping: finishing the current step, then saving {what}...")
        else:
            _say(f"Still stopping: saving {what} (kill -9 aborts without it).")

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, signal.SIG_IGN if received else h)


def _say(line: str) -> None:
    """One line on standard error, written directly: a handler may interrupt a rich print,
    and printing through rich again from inside it is not safe."""
    with contextlib.suppress(OSError, ValueError):
        os.write(sys.stderr.fileno(), (line + "\n").encode("utf-8", "replace"))
