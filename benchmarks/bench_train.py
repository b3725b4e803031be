"""One BSFF training epoch through the simulator vs the same BSFF model in plain torch.

Both sides train the same CwC-FF ConvNet (tiled logistic units with M tiles, the same local CwC
losses, per-block Adam, mean-field backward) on the same images. The simulator side is
``pbitsim.training`` (Numba kernels: p-bit sampling, index-and-accumulate convolutions, counting);
the torch side samples the tiles with ``torch.rand`` and runs float ``conv2d`` on the counts with
the batch norm applied as usual (no folding needed), autograd for the backward.

    python benchmarks/bench_train.py [--data-dir DIR] [--images 1024] [--tiles 7]

Prints both epoch times and the ratio (simulator / torch; below 1 means the simulator is faster)
from one run each, after one warm-up step per side (Numba compilation, torch first-call costs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pbitsim import counting
from pbitsim import kernels as K
from pbitsim.training import TrainConfig
from pbitsim.training.algorithms import HEAD_LR, make_algorithm
from pbitsim.training.models import BN_EPS, CWC_CHANNELS, CWC_POOL, PRE_SCALE


class TorchBSFF(nn.Module):
    """The BSFF ConvNet written in plain torch (the reference the simulator is timed against)."""

    def __init__(self, input_shape, tiles, classes=10):
        super().__init__()
        c, h, w = input_shape
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        for i, o in enumerate(CWC_CHANNELS):
            self.convs.append(nn.Conv2d(c, o, 3, 1, 1))
            self.bns.append(nn.BatchNorm2d(o, eps=BN_EPS))
            c = o
            if CWC_POOL[i]:
                h, w = h // 2, w // 2
        self.pres = nn.ModuleList(nn.BatchNorm2d(c, eps=BN_EPS) for c in CWC_CHANNELS)
        for pre in self.pres:  # every block's conv output, normalised onto the tiles
            nn.init.constant_(pre.weight, PRE_SCALE)
        self.head = nn.Linear(c * h * w, classes)
        self.register_buffer("offsets", torch.from_numpy(K.tile_offsets(tiles)))
        self.classes = classes

    def tiled(self, z):
        """Sampled counts forward, mean-field gradient backward."""
        p = torch.sigmoid(z.unsqueeze(-1) - self.offsets)
        s = (torch.rand_like(p) < p).sum(-1, dtype=torch.float32)
        mean = p.sum(-1)
        return s + (mean - mean.detach())

    def forward(self, x, frozen):
        ys, inp = [], x
        for i in range(len(self.convs)):
            with torch.set_grad_enabled(i not in frozen):
                z = self.convs[i](inp)
                s = self.tiled(self.pres[i](z))
                if CWC_POOL[i]:
                    s = F.max_pool2d(s, 2)
                y = self.bns[i](s)
            ys.append(y)
            inp = y.detach()
        return ys, self.head(inp.flatten(1))


def torch_step(model, optims, x, y, frozen):
    ys, logits = model(x, frozen)
    loss = F.cross_entropy(logits, y)
    for i, yi in enumerate(ys):
        if i not in frozen:
            g = yi.pow(2).reshape(yi.shape[0], model.classes, -1).mean(2)
            loss = loss + F.cross_entropy(g, y)
    for o in optims:
        o.zero_grad(set_to_none=True)
    loss.backward()
    for i, o in enumerate(optims):
        if i not in frozen:
            o.step()


def load_images(data_dir, n):
    """``n`` normalised MNIST training images, or uniform noise when no data folder is given."""
    if data_dir:
        from pbitsim.datasets import load_dataset
        ds = load_dataset("mnist", data_dir)
        return (torch.from_numpy(ds.normalized(ds.train_x[:n])), torch.from_numpy(ds.train_y[:n]),
                "MNIST")
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(-0.4, 2.8, size=(n, 1, 28, 28)).astype(np.float32))
    return x, torch.from_numpy(rng.integers(0, 10, size=n)), "uniform noise"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default: noise images)")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--tiles", type=int, default=7)
    args = ap.parse_args()
    x, y, what = load_images(args.data_dir, args.images)
    bs, steps = args.batch_size, args.images // args.batch_size
    cfg = TrainConfig(algo="bsff", tiles=args.tiles, schedule="none")  # every block trains
    torch.manual_seed(0)
    sim = make_algorithm(cfg, (1, 28, 28), 10)
    sim.train_step(x[:bs], y[:bs], (99, 0), 0.0)  # warm-up: Numba compilation / caches
    t0 = time.perf_counter()
    with counting():
        for s in range(steps):
            sim.train_step(x[s * bs:(s + 1) * bs], y[s * bs:(s + 1) * bs], (0, s), 0.0)
    t_sim = time.perf_counter() - t0

    torch.manual_seed(0)
    ref = TorchBSFF((1, 28, 28), args.tiles)
    groups = [list(c.parameters()) + list(b.parameters()) for c, b in zip(ref.convs, ref.bns)]
    for g, pre in zip(groups, ref.pres):
        g += list(pre.parameters())
    optims = [torch.optim.Adam(g, lr=0.01) for g in groups] + [
        torch.optim.Adam(ref.head.parameters(), lr=HEAD_LR)]
    frozen = set()
    torch_step(ref, optims, x[:bs], y[:bs], frozen)  # warm-up
    t0 = time.perf_counter()
    for s in range(steps):
        torch_step(ref, optims, x[s * bs:(s + 1) * bs], y[s * bs:(s + 1) * bs], frozen)
    t_torch = time.perf_counter() - t0

    n = steps * bs
    print(f"BSFF M={args.tiles} CwC ConvNet, one epoch of {n} {what} images, batch {bs}, "
          f"{torch.get_num_threads()} torch threads")
    print(f"  simulator (pbitsim, counted): {t_sim:8.2f} s  {n / t_sim:8.1f} images/s")
    print(f"  plain torch:                  {t_torch:8.2f} s  {n / t_torch:8.1f} images/s")
    print(f"  ratio simulator / torch: {t_sim / t_torch:.2f}  (target <= 1)")


if __name__ == "__main__":
    main()
