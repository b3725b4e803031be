"""The rich console of every command: a terminal's width, or 132 columns when piped or logged
(rich's 80-column default would wrap the wide tables of estimate and sweep).

Consoles print without markup: names and paths come from the user (an architecture named
``evil[/]net`` must print as it is, not crash rich), so a style is given as ``style=`` or a
``rich.text.Text``, never as ``[tags]`` inside a string.

:func:`guard_stdout` (called once by the ``pbitsim`` entry point) turns a standard output that
cannot be written -- closed (``>&-``), a full disk (``> /dev/full``), an I/O error -- into one
``Error:`` line and exit status 2; what was written to files before stays.
"""

from __future__ import annotations

import errno
import os
import sys

from .errors import PbitsimError


class OutputError(PbitsimError):
    """Standard output cannot be written."""


def make_console(stderr: bool = False, **kwargs):
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    if stream is None:
        raise OutputError(f"standard {'error' if stderr else 'output'} is closed")
    kwargs.setdefault("markup", False)
    return Console(stderr=stderr, width=None if stream.isatty() else 132, highlight=False,
                   **kwargs)


class _Guarded:
    """A stream whose failed writes raise :class:`OutputError` (a broken pipe stays an
    ``OSError``: click ends quietly on it, as ``pbitsim estimate | head`` expects)."""

    def __init__(self, stream, name: str = "standard output"):
        self._stream, self._name = stream, name

    def _failed(self, exc: OSError):
        with_devnull()  # later flushes (at exit) go nowhere instead of failing again
        if exc.errno == errno.EPIPE:
            return exc
        return OutputError(f"cannot write to {self._name}: {exc.strerror or exc}")

    def write(self, data):
        try:
            return self._stream.write(data)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self):
        try:
            return self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    @property
    def buffer(self):
        return _Guarded(self._stream.buffer, self._name)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def with_devnull() -> None:
    """Point file descriptor 1 at /dev/null (a failed standard output, once reported)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass


def guard_stdout() -> None:
    """Refuse a closed standard output before any work; make later write errors one line."""
    if sys.stdout is None:
        raise OutputError("standard output is closed (pbitsim prints its results there; "
                          "redirect it to a file or /dev/null instead)")
    if not isinstance(sys.stdout, _Guarded):
        sys.stdout = _Guarded(sys.stdout)
