"""The weight gradient of cfse-mnist's grouped block-2 conv (20 -> 80 channels, 10 groups, 28x28,
batch 128) three ways, at the current thread count: torch's ``conv2d_weight`` (oneDNN), the
same with oneDNN off, and ten ungrouped products (one per group). Prints CPU and wall time per
call and whether each gives oneDNN's bits.

    python benchmarks/bench_grouped_wgrad.py [--threads 2] [--calls 3]

On a loaded 2-core machine oneDNN's implementation (``x64:gemm:jit backward_weights``) spins
at 2 threads (README, speed on the default network).
"""

from __future__ import annotations

import argparse
import time

import pbitsim  # noqa: F401  (first: its OpenMP setting must precede torch)
import torch
from torch.nn.grad import conv2d_weight


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--calls", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    groups, cg, og = 10, 2, 8
    x = torch.randint(0, 8, (128, groups * cg, 28, 28)).float()  # tile counts, as BSFF's block 2
    g = torch.randn(128, groups * og, 28, 28)
    shape = (groups * og, cg, 3, 3)

    def onednn():
        return conv2d_weight(x, shape, g, 1, 1, 1, groups)

    def no_onednn():
        with torch.backends.mkldnn.flags(enabled=False):
            return conv2d_weight(x, shape, g, 1, 1, 1, groups)

    def per_group():
        return torch.cat([conv2d_weight(x[:, cg * k:cg * (k + 1)], (og, cg, 3, 3),
                                        g[:, og * k:og * (k + 1)], 1, 1, 1, 1)
                          for k in range(groups)])

    ref = onednn()
    for name, fn in (("oneDNN", onednn), ("oneDNN off", no_onednn), ("per group", per_group)):
        out = fn()
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(args.calls):
            fn()
        cpu = (time.process_time() - c0) / args.calls
        wall = (time.perf_counter() - t0) / args.calls
        print(f"{args.threads} threads  {name:10s}  CPU {cpu * 1e3:8.1f} ms  wall {wall * 1e3:8.1f} ms"
              f"  oneDNN's bits: {torch.equal(out, ref)}  max |diff| "
              f"{float((out - ref).abs().max()):.1e}")


if __name__ == "__main__":
    main()
