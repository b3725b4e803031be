"""The rich console of every command: a terminal's width, or 132 columns when piped or logged
(rich's 80-column default would wrap the wide tables of estimate and sweep)."""

from __future__ import annotations

import sys


def make_console(stderr: bool = False, **kwargs):
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 132, highlight=False,
                   **kwargs)
