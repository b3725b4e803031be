"""BSFF steps with this tree's p-bit sampler and with another tree's, against CwC-FF steps.

    python benchmarks/bench_sampler_steps.py --data-dir DATA/mnist --other-tree PATH
        [--steps 3] [--rounds 5]

``cfse-mnist``, batch 128, every block training, one thread, one process (the trainer's heap
setting). The other tree's ideal-sampler kernel (``_fire_pair`` and ``_sample_units`` of its
``pbitsim/kernels/sampling.py``, the version before 2026-12, e.g. ``git archive e1ed3d0``) is
compiled here and swapped in for the "previous" side, so the two samplers and CwC-FF are timed
in alternation (the order reversed every other round). Prints per step the CPU time (user +
system, ``getrusage``) of each side per round, its median, and the BSFF / CwC-FF ratio per round.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _steps import BATCH, step_setup, timed_steps, warm_up  # first: pbitsim before torch
import numpy as np
from numba import njit, prange

import pbitsim.kernels.sampling as S
from pbitsim.bridge.heap import keep_freed_memory
from pbitsim.kernels.rng import UNIFORM24_SCALE, draw64


def previous_kernel(tree: str):
    """The other tree's ``_sample_units`` (compiled here, uncached)."""
    src = (Path(tree) / "pbitsim/kernels/sampling.py").read_text()
    start = src.index('@njit(inline="always", cache=True)\ndef _fire_pair')
    end = src.index("_M32 = np.uint64(0xFFFFFFFF)")
    ns = dict(np=np, njit=njit, prange=prange, draw64=draw64, UNIFORM24_SCALE=UNIFORM24_SCALE,
              _exp_f32=S._exp_f32, _CHUNK=S._CHUNK)
    exec(src[start:end].replace("cache=True", "cache=False"), ns)
    return ns["_sample_units"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", required=True, help="MNIST folder")
    ap.add_argument("--other-tree", required=True, help="checkout with the previous sampler")
    ap.add_argument("--steps", type=int, default=3, help="steps per side and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    old, new = previous_kernel(args.other_tree), S._sample_units

    def use(previous: bool):  # the previous kernel takes no tile-group argument
        S._sample_units = (lambda *a: old(*a[:-1])) if previous else new

    x, y, algos = step_setup(args.data_dir, args.steps)
    keep_freed_memory()
    bs, n = BATCH, args.steps
    for rule in algos:
        for previous in (False, True):  # warm-up: compilation, cache loads, first calls
            use(previous)
            warm_up(algos[rule], x, y)
    sides = [("bsff", False), ("bsff", True), ("cwc", False)]
    got = {side: [] for side in sides}
    for r in range(args.rounds):
        for rule, previous in (sides if r % 2 == 0 else sides[::-1]):
            use(previous)
            got[rule, previous].append(timed_steps(algos[rule], x, y, n, r)[0] / n)
    cwc = got["cwc", False]
    print(f"cfse-mnist, batch {bs}, 1 thread, {n} steps per side and round, {args.rounds} rounds; "
          f"CPU s per step:")
    for side in sides[:2]:
        v = got[side]
        ratios = [a / b for a, b in zip(v, cwc)]
        print(f"  BSFF, {'previous' if side[1] else 'this    '} sampler: "
              + " ".join(f"{t:.3f}" for t in v) + f"  median {np.median(v):.3f}; / CwC-FF per "
              f"round " + " ".join(f"{t:.2f}" for t in ratios) + f"  median {np.median(ratios):.2f}")
    print("  CwC-FF: " + " ".join(f"{t:.3f}" for t in cwc) + f"  median {np.median(cwc):.3f}")


if __name__ == "__main__":
    main()
