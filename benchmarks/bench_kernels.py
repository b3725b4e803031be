"""Kernel benchmark: pbitsim's Numba kernels against numpy / torch in the same run.

    python benchmarks/bench_kernels.py [--repeat 20] [--json out.json]

Reports the best of ``--repeat`` timings of each operation (after a warm-up call):

* index_matmul vs numpy sgemm (``x.astype(float32) @ w``) at activation densities
  0.05 / 0.1 / 0.25 / 0.5, B=256, K=784, N=2000. Target: index <= 1.2 x density x sgemm.
* the counter's cost: index_matmul with and without ``counter=`` (target <= 3%).
* bsn_sample vs ``torch.bernoulli(torch.sigmoid(z))``; tiled_logistic (M=7) vs the
  same in torch (``rand < sigmoid(z - offsets)`` summed over tiles). Target: >= 5x.
* index_conv2d / index_conv2d_weight_grad vs ``F.conv2d`` / ``conv2d_weight`` on the
  CwC-FF layers at tile-count activations (M=7, tile density 0.15).

Libraries get the same threads (numba's default; torch.set_num_threads to match).
Between libraries the script pauses, so OpenBLAS / OpenMP workers that spin after a call
do not steal cores from the next measurement.
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from pbitsim import OpCounter
from pbitsim.network.counters import atomic_write_text
from pbitsim.kernels import (bsn_sample, index_conv2d, index_conv2d_weight_grad, index_matmul,
                             tile_offsets, tiled_logistic)


def best_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    time.sleep(0.3)
    return 1e3 * min(times)


def best_pair_ms(fn_a, fn_b, repeat: int) -> tuple[float, float]:
    """Best times of two variants measured alternately, so load changes hit both alike."""
    fn_a(), fn_b()
    a, b = [], []
    for _ in range(repeat):
        for fn, times in ((fn_a, a), (fn_b, b)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    time.sleep(0.3)
    return 1e3 * min(a), 1e3 * min(b)


def bench_matmul(rng, repeat):
    b, k, n = 256, 784, 2000
    w = rng.standard_normal((k, n)).astype(np.float32)
    rows = []
    for density in (0.05, 0.1, 0.25, 0.5):
        x = (rng.random((b, k)) < density).astype(np.uint8)
        xf = x.astype(np.float32)
        t_index, t_counted = best_pair_ms(lambda: index_matmul(x, w),
                                          lambda: index_matmul(x, w, OpCounter()), repeat)
        t_sgemm = best_ms(lambda: xf @ w, repeat)
        rows.append(dict(op="index_matmul", shape=f"{b}x{k}x{n}", density=density,
                         pbitsim_ms=t_index, reference="numpy sgemm", reference_ms=t_sgemm,
                         ratio=t_index / t_sgemm, target=f"<= {1.2 * density:.2f}",
                         met=t_index / t_sgemm <= 1.2 * density,
                         counter_overhead=t_counted / t_index - 1))
    return rows


def bench_sampling(rng, repeat):
    z = rng.standard_normal((256, 2000 * 8)).astype(np.float32)
    zt = torch.from_numpy(z)
    offsets = torch.from_numpy(tile_offsets(7))
    gen = torch.Generator().manual_seed(0)
    t_bsn = best_ms(lambda: bsn_sample(z, 1), repeat)
    t_torch = best_ms(lambda: torch.bernoulli(torch.sigmoid(zt), generator=gen), repeat)
    t_tiled = best_ms(lambda: tiled_logistic(z, 7, 1), repeat)
    t_torch7 = best_ms(lambda: (torch.rand(*zt.shape, 7, generator=gen)
                                < torch.sigmoid(zt[..., None] - offsets)).sum(-1, dtype=torch.uint8),
                       repeat)
    return [dict(op="bsn_sample", shape=f"{z.size:,} units", density=None, pbitsim_ms=t_bsn,
                 reference="torch.bernoulli(sigmoid)", reference_ms=t_torch,
                 ratio=t_bsn / t_torch, target="<= 0.20", met=t_bsn / t_torch <= 0.2),
            dict(op="tiled_logistic M=7", shape=f"{z.size:,} units", density=None,
                 pbitsim_ms=t_tiled, reference="torch rand<sigmoid, sum", reference_ms=t_torch7,
                 ratio=t_tiled / t_torch7, target="<= 0.20", met=t_tiled / t_torch7 <= 0.2)]


def bench_conv(rng, repeat):
    rows = []
    tiles, p_tile = 7, 0.15
    for b, c, hw, o in ((128, 20, 14, 80), (128, 80, 14, 240), (128, 240, 7, 480)):
        x = (rng.random((b, c, hw, hw, tiles)) < p_tile).sum(-1).astype(np.uint8)
        w = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
        g = rng.standard_normal((b, o, hw, hw)).astype(np.float32)
        xt, wt, gt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(w), torch.from_numpy(g)
        shape = f"{b}x{c}x{hw}x{hw} -> {o}"
        t_fwd = best_ms(lambda: index_conv2d(x, w, 1, 1, tiles=tiles), repeat)
        t_ref = best_ms(lambda: F.conv2d(xt, wt, padding=1), repeat)
        t_grad = best_ms(lambda: index_conv2d_weight_grad(x, g, 3, 1, 1, tiles=tiles), repeat)
        t_gref = best_ms(lambda: torch.nn.grad.conv2d_weight(xt, w.shape, gt, padding=1), repeat)
        for op, t, ref, tr in (("index_conv2d", t_fwd, "F.conv2d", t_ref),
                               ("index_conv2d_weight_grad", t_grad, "conv2d_weight", t_gref)):
            rows.append(dict(op=op, shape=shape, density=p_tile, pbitsim_ms=t, reference=ref,
                             reference_ms=tr, ratio=t / tr, target="(no target)", met=None))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args()
    torch.set_num_threads(numba.get_num_threads())
    rng = np.random.default_rng(0)
    rows = bench_matmul(rng, args.repeat) + bench_sampling(rng, args.repeat)
    rows += bench_conv(rng, max(3, args.repeat // 4))

    table = Table(title=f"pbitsim kernels vs references ({numba.get_num_threads()} threads, best of "
                        f"{args.repeat})")
    for col in ("op", "shape", "density", "pbitsim ms", "reference", "ref ms", "ratio", "target",
                "counter cost"):
        table.add_column(col, justify="left" if col in ("op", "shape", "reference") else "right")
    for r in rows:
        met = "" if r["met"] is None else (" ok" if r["met"] else " missed")
        table.add_row(r["op"], r["shape"], "" if r["density"] is None else f"{r['density']:g}",
                      f"{r['pbitsim_ms']:.2f}", r["reference"], f"{r['reference_ms']:.2f}",
                      f"{r['ratio']:.3f}", r["target"] + met,
                      f"{100 * r['counter_overhead']:+.1f}%" if "counter_overhead" in r else "")
    Console(width=150).print(table)
    if args.json:
        atomic_write_text(args.json, json.dumps(dict(threads=numba.get_num_threads(), rows=rows),
                                                indent=2) + "\n")


if __name__ == "__main__":
    main()
