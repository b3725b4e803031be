"""Training steps with and without the trainer's heap setting (``bridge.heap``), alternated.

BSFF M=7 and CwC-FF training steps on ``cfse-mnist`` (batch 128, every block training), one
thread, in one process; rounds alternate the glibc allocator between its defaults (large arrays
mmapped and returned when freed) and :func:`pbitsim.bridge.heap.keep_freed_memory`'s setting
(large arrays from the heap, freed memory kept), and the order of the rules. Prints per step the
median CPU time (user + system, from ``getrusage``: the work, little affected by waiting for a
core on a shared machine), the system time, the page faults, and the BSFF / CwC-FF ratio per
round.

    python benchmarks/bench_heap.py --data-dir DATA/mnist [--steps 3] [--rounds 3]

glibc only (Linux).
"""

from __future__ import annotations

import argparse
import ctypes

from _steps import BATCH, step_setup, timed_steps, warm_up  # first: pbitsim before torch
import numpy as np

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def heap_mode(libc, keep: bool) -> None:
    """keep: the trainer's setting; else glibc's defaults (mmap on, 128 KB trim threshold)."""
    if keep:
        libc.mallopt(_M_MMAP_MAX, 0)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    else:
        libc.mallopt(_M_MMAP_MAX, 65536)
        libc.mallopt(_M_TRIM_THRESHOLD, 128 * 1024)
        libc.malloc_trim(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True, help="MNIST folder")
    ap.add_argument("--steps", type=int, default=3, help="steps per rule, mode and round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    x, y, algos = step_setup(args.data_dir, args.steps)
    libc = ctypes.CDLL("libc.so.6")
    bs, n = BATCH, args.steps
    for rule in algos:
        warm_up(algos[rule], x, y)
    got = {(rule, keep): [] for rule in algos for keep in (False, True)}
    for r in range(args.rounds):
        for keep in ((False, True) if r % 2 == 0 else (True, False)):
            heap_mode(libc, keep)
            for rule in (("bsff", "cwc") if (r + keep) % 2 == 0 else ("cwc", "bsff")):
                got[rule, keep].append(timed_steps(algos[rule], x, y, n, r))
    print(f"cfse-mnist, batch {bs}, 1 thread, {n} steps per rule, mode and round, "
          f"{args.rounds} rounds alternated; per step, medians:")
    for keep in (False, True):
        b, c = got["bsff", keep], got["cwc", keep]
        ratios = [u[0] / v[0] for u, v in zip(b, c)]
        med = lambda rows, k: float(np.median([row[k] for row in rows])) / n  # noqa: E731
        print(f"  heap {'kept   ' if keep else 'default'}: CPU BSFF {med(b, 0):.3f} s, CwC-FF "
              f"{med(c, 0):.3f} s; ratio per round {' '.join(f'{v:.2f}' for v in ratios)}, "
              f"median {float(np.median(ratios)):.2f}; system BSFF {med(b, 1):.3f} s, CwC-FF "
              f"{med(c, 1):.3f} s; page faults BSFF {med(b, 2):,.0f}, CwC-FF {med(c, 2):,.0f}")


if __name__ == "__main__":
    main()
