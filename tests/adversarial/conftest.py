"""Shared helpers of the adversarial suite: the CLI (adv_helpers); the data is the session's
synthetic MNIST (``mnist_dir``, tests/conftest.py).

Every test here is an attack or an accident that once went wrong (issue #11): a crafted file,
a stale or forged sweep point, an odd output path, a signal, a second run into the same folder.
Each checks the promise: one ``Error:`` line and exit status 2, no code run, no file lost.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
