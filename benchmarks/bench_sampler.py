"""The ideal p-bit sampler (``tiled_logistic``) and its parts, in CPU time.

    python benchmarks/bench_sampler.py [--units 12000000] [--tiles 7] [--repeat 7]
    PYTHONPATH=/path/to/other/tree python benchmarks/bench_sampler.py   # another version

Runs on one Numba thread (``NUMBA_NUM_THREADS=1`` unless set) and times each case with the
thread's CPU clock (``time.thread_time``): on a shared machine this is far steadier than wall
time. The cases are measured in alternation, ``--repeat`` rounds; printed: median and minimum
per call, in ms, and each case's median relative to the first.

Cases (``--units`` pre-activations, z ~ N(0, 3^2), M = ``--tiles``):

* ``tiled_logistic`` as training calls it (counts + float counts + mean-field slope), with a
  per-channel affine (the batch-norm-fed path), counts only, and M = 1.
* Parts, as separate kernels with the sampler's chunked loop structure: the random words
  alone (the 64-bit SplitMix64 stream ``draw64``, two tiles a word, as the sampler used until
  2026-12; and the 32-bit ``hash32`` stream, two 16-bit tiles a word, as it uses now); the exp
  alone; the memory traffic alone (read z, write uint8 + float32 + float32); the sampler's
  arithmetic without random numbers (tile probabilities, compare, slope, writes).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402

from pbitsim.config import KERNEL_CHUNK as CHUNK  # noqa: E402
from pbitsim.kernels import tile_offsets, tiled_logistic  # noqa: E402
from pbitsim.kernels.rng import draw64, seed_key  # noqa: E402
from pbitsim.kernels.sampling import _exp_f32  # noqa: E402

try:  # the 32-bit stream exists from 2026-12 on
    from pbitsim.kernels.rng import hash32, key_halves
except ImportError:
    hash32 = key_halves = None


@njit(parallel=True)
def words64(n, draws, key, out):
    """``draws`` SplitMix64 words per unit, each split into two 24-bit uniforms and compared."""
    for c in prange((n + CHUNK - 1) // CHUNK):
        lo, hi = c * CHUNK, min(n, c * CHUNK + CHUNK)
        acc = np.zeros(hi - lo, np.uint8)
        for d in range(draws):
            for i in range(hi - lo):
                r = draw64(key, np.uint64((lo + i) * draws + d))
                u0 = np.float32(r >> np.uint64(40)) * np.float32(2.0 ** -24)
                u1 = np.float32((r >> np.uint64(16)) & np.uint64(0xFFFFFF)) * np.float32(2.0 ** -24)
                acc[i] += (u0 < np.float32(0.5)) + (u1 < np.float32(0.3))
        out[lo:hi] = acc


if hash32 is not None:
    @njit(parallel=True)
    def words32(n, draws, key, out):
        """``draws`` hash32 words per unit, each split into two 16-bit uniforms and compared."""
        k0, k1 = key_halves(key)
        for c in prange((n + CHUNK - 1) // CHUNK):
            lo, hi = c * CHUNK, min(n, c * CHUNK + CHUNK)
            acc = np.zeros(hi - lo, np.float32)
            for i in range(hi - lo):
                f = np.float32(0.0)
                for d in range(4):
                    h = hash32(k0, k1, np.uint32((lo + i) * draws + d))
                    u0 = np.float32(np.int32(h >> np.uint32(16))) * np.float32(2.0 ** -16)
                    u1 = np.float32(np.int32(h & np.uint32(0xFFFF))) * np.float32(2.0 ** -16)
                    f += np.float32(u0 < np.float32(0.5)) + np.float32(u1 < np.float32(0.3))
                acc[i] = f
            for i in range(hi - lo):
                out[lo + i] = np.uint8(acc[i])


@njit(parallel=True)
def exp_only(z, z_lo, z_hi, out_f):
    n = z.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, c * CHUNK + CHUNK)):
            out_f[i] = _exp_f32(-min(max(z[i], z_lo), z_hi))


@njit(parallel=True)
def memory_only(z, out, out_f, slope):
    n = z.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, c * CHUNK + CHUNK)):
            v = z[i]
            out[i] = np.uint8(v > 0)
            out_f[i] = v
            slope[i] = v


@njit(parallel=True)
def no_random(z, exp_offsets, z_lo, z_hi, out, out_f, slope):
    """The sampler's arithmetic with fixed uniforms: p per tile, compare, slope, writes
    (tiles in registers: M = 7 only)."""
    n = z.size
    c0, c1, c2, c3, c4, c5, c6 = exp_offsets[:7]
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, c * CHUNK + CHUNK)):
            e = _exp_f32(-min(max(z[i], z_lo), z_hi))
            f = np.float32(0.0)
            s = np.float32(0.0)
            for d in range(7):
                ct = c0 if d == 0 else c1 if d == 1 else c2 if d == 2 else c3 if d == 3 else \
                    c4 if d == 4 else c5 if d == 5 else c6
                p = np.float32(1.0) / (np.float32(1.0) + e * ct)
                f += np.float32(np.float32(0.4) < p)
                s += p * (np.float32(1.0) - p)
            out[i] = np.uint8(f)
            out_f[i] = f
            slope[i] = s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--units", type=int, default=12_000_000)
    ap.add_argument("--tiles", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n, m = args.units, args.tiles
    z = (np.random.default_rng(0).standard_normal(n) * 3).astype(np.float32)
    out = np.empty(n, np.uint8)
    out_f = np.empty(n, np.float32)
    slope = np.empty(n, np.float32)
    chans = 20
    z4 = z[: n // (chans * 64) * chans * 64].reshape(-1, chans, 8, 8)
    f4, s4 = np.empty(z4.shape, np.float32), np.empty(z4.shape, np.float32)
    affine = (np.linspace(0.5, 2, chans).astype(np.float32),
              np.linspace(-1, 1, chans).astype(np.float32))
    off = tile_offsets(m)
    exp_off = np.exp(off.astype(np.float64)).astype(np.float32)
    z_lo, z_hi = np.float32(off.min() - 20), np.float32(off.max() + 20)
    key = seed_key(5)
    draws = (m + 1) // 2
    cases = {
        f"tiled_logistic M={m}: counts + float + slope": lambda: tiled_logistic(
            z, m, 5, out_float=out_f, slope=slope),
        f"tiled_logistic M={m}: + channel affine": lambda: tiled_logistic(
            z4, m, 5, out_float=f4, slope=s4, channel_affine=affine),
        f"tiled_logistic M={m}: counts only": lambda: tiled_logistic(z, m, 5),
        "tiled_logistic M=1: counts + float + slope": lambda: tiled_logistic(
            z, 1, 5, out_float=out_f, slope=slope),
        f"part: draw64 words ({draws}/unit, 2 x 24 bit)": lambda: words64(n, draws, key, out),
    }
    if hash32 is not None:
        cases["part: hash32 words (4/unit, 2 x 16 bit)"] = lambda: words32(n, 4, key, out)
    cases["part: exp"] = lambda: exp_only(z, z_lo, z_hi, out_f)
    cases["part: memory (read z, write u8 + 2 x f32)"] = lambda: memory_only(z, out, out_f, slope)
    if m == 7:
        cases["part: all but the random numbers (M=7)"] = lambda: no_random(
            z, exp_off, z_lo, z_hi, out, out_f, slope)
    for fn in cases.values():  # compile / load, fault the outputs in
        fn()
    times = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, fn in cases.items():
            t0 = time.thread_time()
            fn()
            times[name].append(time.thread_time() - t0)
    import pbitsim
    print(f"pbitsim from {os.path.dirname(pbitsim.__file__)}; {n:,} units, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, {args.repeat} rounds, "
          f"CPU ms per call")
    first = float(np.median(next(iter(times.values()))))
    for name, ts in times.items():
        med = float(np.median(ts))
        print(f"  {name:46s} median {1e3 * med:7.1f}  min {1e3 * min(ts):7.1f}  "
              f"x{med / first:5.2f}")


if __name__ == "__main__":
    main()
