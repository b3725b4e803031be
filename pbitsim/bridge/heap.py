"""Keep freed memory in the process for the next training step (glibc's allocator).

A training step allocates and frees the same large arrays every step: activations, tile
counts, slopes and gradients of 10-50 MB each (cfse-mnist at batch 128). glibc serves every
allocation above its mmap threshold (at most 32 MB, and 128 KB until it adapts) with a fresh
``mmap`` and gives it back with ``munmap`` when freed, so the next step touches new pages:
each 4 KB page faults into the kernel, which zeroes it. :func:`keep_freed_memory` makes large
allocations come from the heap and keeps freed heap memory for reuse. Measured on cfse-mnist
(``benchmarks/bench_heap.py``, one thread, the two settings alternated in one process): a BSFF
M=7 step 1.42-1.69 -> 1.10-1.16 s of CPU time (52,000-91,000 page faults -> 700-4,100), a CwC-FF
step 0.84-1.02 -> 0.78-0.81 s; peak memory alike (README, speed).

Numbers do not depend on it: only where arrays live changes. A no-op where the C library is
not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_KEEP_BYTES = 1 << 30  # freed memory at the top of the heap kept up to 1 GiB

_done = False


def keep_freed_memory() -> bool:
    """Serve large allocations from the heap and keep freed memory (glibc ``mallopt``).

    Process-wide and one-way, like the OpenMP wait policy that importing pbitsim sets; called
    once by the trainer before training. Returns True when the allocator took the settings.
    """
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
    return _done
