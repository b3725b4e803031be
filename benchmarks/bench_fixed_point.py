"""Fixed-point index kernels against the fp32 ones, on the CFSE MNIST net's index layers.

    python benchmarks/bench_fixed_point.py [--batch 32] [--repeat 5] [--json out.json]

For each index layer of ``cfse-mnist`` (convs 2-4 and the head, at tile-count inputs M=7,
tile density 0.15) the best of ``--repeat`` timings (after a warm-up call) of:

* ``index_conv2d`` / ``index_matmul`` (fp32 weights) against ``fixed_index_conv2d`` /
  ``fixed_index_matmul`` on 8-bit weights with a 32-bit accumulator (no partial sum can
  saturate: the plain integer adds) and with a 16-bit one (saturating adds);
* the weight gradients ``index_conv2d_weight_grad`` / ``index_matmul_xt`` (fp32 errors)
  against their fixed-point twins on 8-bit errors into 32- and 16-bit accumulators.

The ratio column is fixed / fp32 (below 1: the fixed-point kernel is faster). Timings are
wall-clock on whatever else the machine runs: give the machine's load with the numbers.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np
from rich.console import Console
from rich.table import Table

from pbitsim.network.counters import OpCounter
from pbitsim.kernels import (index_conv2d, index_conv2d_weight_grad, index_matmul,
                             index_matmul_xt)
from pbitsim.kernels import fixed_point as FX

TILES, DENSITY = 7, 0.15
# cfse-mnist's index layers: (name, C_in, O, H=W, groups); the head reads 480 x 7 x 7 counts
CONVS = [("conv2", 20, 80, 28, 10), ("conv3", 80, 240, 14, 1), ("conv4", 240, 480, 14, 10)]
HEAD = ("head", 480 * 7 * 7, 10)


def best_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def counts(rng, shape) -> np.ndarray:
    """Tile counts: binomial(M, density) per unit."""
    return rng.binomial(TILES, DENSITY, shape).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for name, c, o, hw, groups in CONVS:
        x = counts(rng, (args.batch, c, hw, hw))
        w = rng.standard_normal((o, c // groups, 3, 3)).astype(np.float32)
        g = rng.standard_normal((args.batch, o, hw, hw)).astype(np.float32)
        wq, _ = FX.quantize(w, 8, dtype=np.int32)
        gq, _ = FX.quantize(np.ascontiguousarray(g.transpose(1, 0, 2, 3)), 8, dtype=np.int32)
        gq = np.ascontiguousarray(gq.transpose(1, 0, 2, 3))
        fp = best_ms(lambda: index_conv2d(x, w, 1, 1, OpCounter(), groups=groups, tiles=TILES),
                     args.repeat)
        for acc in (32, 16):
            t = best_ms(lambda: FX.fixed_index_conv2d(x, wq, acc, 1, 1, OpCounter(), word_bits=8,
                                                      groups=groups, tiles=TILES), args.repeat)
            rows.append((name, "forward", acc, fp, t))
        fp = best_ms(lambda: index_conv2d_weight_grad(x, g, 3, 1, 1, OpCounter(), groups=groups,
                                                      tiles=TILES), args.repeat)
        for acc in (32, 16):
            t = best_ms(lambda: FX.fixed_index_conv2d_weight_grad(
                x, gq, 3, acc, 1, 1, OpCounter(), word_bits=8, groups=groups, tiles=TILES),
                args.repeat)
            rows.append((name, "weight_grad", acc, fp, t))
    name, k, n = HEAD
    x = counts(rng, (args.batch, k))
    w = rng.standard_normal((k, n)).astype(np.float32)
    g = rng.standard_normal((args.batch, n)).astype(np.float32)
    wq = np.ascontiguousarray(FX.quantize(np.ascontiguousarray(w.T), 8, dtype=np.int32)[0].T)
    gq = np.ascontiguousarray(FX.quantize(np.ascontiguousarray(g.T), 8, dtype=np.int32)[0].T)
    fp = best_ms(lambda: index_matmul(x, w, OpCounter(), tiles=TILES), args.repeat)
    for acc in (32, 16):
        rows.append((name, "forward", acc, fp, best_ms(
            lambda: FX.fixed_index_matmul(x, wq, acc, OpCounter(), word_bits=8, tiles=TILES),
            args.repeat)))
    fp = best_ms(lambda: index_matmul_xt(x, g, OpCounter(), tiles=TILES), args.repeat)
    for acc in (32, 16):
        rows.append((name, "weight_grad", acc, fp, best_ms(
            lambda: FX.fixed_index_matmul_xt(x, gq, acc, OpCounter(), word_bits=8, tiles=TILES),
            args.repeat)))

    table = Table(title=f"fixed-point vs fp32 index kernels, cfse-mnist layers, batch "
                        f"{args.batch}, M={TILES}, density {DENSITY}, {numba.get_num_threads()} "
                        "numba threads (best of %d)" % args.repeat)
    for col in ("layer", "product", "accumulator", "fp32 ms", "fixed ms", "fixed / fp32"):
        table.add_column(col, justify="left" if col in ("layer", "product") else "right")
    for name, kind, acc, fp, t in rows:
        table.add_row(name, kind, f"int{acc}" + (" (saturating)" if acc == 16 else ""),
                      f"{fp:.1f}", f"{t:.1f}", f"{t / fp:.2f}")
    Console().print(table)
    if args.json:
        doc = [{"layer": r[0], "product": r[1], "acc_bits": r[2], "fp32_ms": r[3],
                "fixed_ms": r[4]} for r in rows]
        with open(args.json, "w") as f:
            json.dump({"batch": args.batch, "threads": numba.get_num_threads(), "rows": doc}, f,
                      indent=2)


if __name__ == "__main__":
    main()
