"""Shared helpers of the adversarial suite: the real MNIST (skips when absent) and the CLI.

Every test here is an attack or an accident that once went wrong (issue #11): a crafted file,
a stale or forged sweep point, an odd output path, a signal, a second run into the same folder.
Each checks the promise: one ``Error:`` line and exit status 2, no code run, no file lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from adv_helpers import MNIST_DIR  # noqa: E402


@pytest.fixture
def mnist_dir():
    if not MNIST_DIR.is_dir():
        pytest.skip(f"MNIST not available at {MNIST_DIR}")
    return str(MNIST_DIR)
