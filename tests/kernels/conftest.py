"""Shared fixtures of the kernel tests."""

import os
import subprocess
import sys

import pytest


@pytest.fixture
def digests_on_threads():
    """Run a script (which prints a digest of kernel outputs) under NUMBA_NUM_THREADS=1 and 2
    in fresh interpreters; returns the set of digests (one element: identical results)."""
    def run(script: str, threads=("1", "2")) -> set:
        digests = set()
        for n in threads:
            env = dict(os.environ, NUMBA_NUM_THREADS=n)
            digests.add(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                       capture_output=True, text=True).stdout.strip())
        return digests
    return run
