"""``kernels.numba_threads``: the kernels' thread count for a block, set without loading Numba
(a float run never loads it), applied when a kernel first loads it in the block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
from pbitsim import kernels as K
with K.numba_threads(1):
    assert 'numba' not in sys.modules
    K.derive_seed(0, 1)                  # pure Python: still no numba
    assert 'numba' not in sys.modules
    K.tiled_logistic                     # loads numba inside the block
    import numba
    inside = numba.get_num_threads()
after = numba.get_num_threads()
with K.numba_threads(1):                 # numba loaded now: set and restored directly
    again = numba.get_num_threads()
print(inside, after == numba.config.NUMBA_NUM_THREADS, again, numba.get_num_threads() == after)
"""


def test_thread_count_applies_when_a_kernel_loads_numba():
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={"NUMBA_NUM_THREADS": "2",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "True", "1", "True"]


TORCH_CODE = """
import torch
from pbitsim import kernels as K
from pbitsim.training.trainer import thread_count
torch.set_num_threads(2)
with thread_count(1):
    K.tiled_logistic                     # numba loads and starts its pool (2 threads) here
    import numba
    inside = (torch.get_num_threads(), numba.get_num_threads())
print(*inside, torch.get_num_threads())
"""


def test_torch_keeps_its_thread_count_when_a_kernel_loads_numba():
    """Starting Numba's pool resets the OpenMP thread count torch shares: the trainer's
    thread_count sets torch's again, so a --threads 1 run's float sums stay on one thread."""
    done = subprocess.run([sys.executable, "-c", TORCH_CODE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={"NUMBA_NUM_THREADS": "2",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1", "2"]
