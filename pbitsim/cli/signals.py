"""Ctrl-C and SIGTERM during training: stop after the current step and save, never a traceback."""

from __future__ import annotations

import contextlib
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(console, on_stop, what: str = "a checkpoint"):
    """Within the block, SIGINT (Ctrl-C) and SIGTERM (``kill``, ``timeout``, schedulers) stop
    the work gracefully.

    The first signal calls ``on_stop()`` and says at once that the step is being finished and
    ``what`` saved; later ones only repeat that it is still stopping (raising inside a numba
    kernel would end in a traceback and no checkpoint). The previous handlers come back at the
    end of the block.
    """
    received = []

    def handler(signum, frame):
        received.append(signum)
        if len(received) == 1:
            console.print(f"Stopping: finishing the current step, then saving {what}...",
                          markup=False, highlight=False)
            on_stop()
        else:
            console.print(f"Still stopping: saving {what} (kill -9 aborts without it).",
                          markup=False, highlight=False)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
