"""One BSFF training epoch through the simulator vs one epoch of real-valued CwC-FF.

Every side trains the same CwC-FF ConvNet on the same images and batches, every block training
(no freezing), counted as in ``pbitsim train``:

* ``dense`` / ``index``: BSFF M=7 through the simulator (``pbitsim.training``: p-bit sampling,
  the index layers on that backend, counting);
* ``cwc``: real-valued CwC-FF (ReLU) in torch, the reference of the issue's 1.3x target;
* ``torch-bsff``: the same BSFF model in plain torch (``torch.rand`` tile sampling, float
  ``conv2d`` on the counts, autograd), the earlier comparison.

    python benchmarks/bench_train.py [--data-dir DIR] [--images 1024] [--rounds 3]
                                     [--sides dense,cwc]

After one warm-up step per side (Numba compilation, torch first-call costs) it runs ``--rounds``
rounds, each timing one epoch of every side, the sides' steps interleaved (in alternating
order), so load changes on a shared machine hit all sides alike. Prints every epoch time (the
sum of its steps' times) and the ratios to ``cwc``: per round, their median, and of the best
times; and the ratio of CPU time (all threads; what the step computes, less sensitive to
waiting for a core on a shared machine than wall time).
"""

from __future__ import annotations

import argparse
import time

import pbitsim  # noqa: F401  (first, as the CLI does: its OpenMP setting must precede torch)
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pbitsim import counting
from pbitsim import kernels as K
from pbitsim.training import TrainConfig
from pbitsim.training.algorithms import HEAD_LR, make_algorithm
from pbitsim.training.models import BN_EPS, PRE_SCALE

CWC_CHANNELS = (20, 80, 240, 480)  # the CwC-FF ConvNet (arch cwc-mnist)
CWC_POOL = (True, False, True, False)  # 2x2 max-pool after blocks 1 and 3


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


def _sim_step(algo, x, y, key):
    with counting():
        algo.train_step(x, y, key, 0.0)


def _torch_step(side, x, y, key):
    ref, optims = side
    torch_step(ref, optims, x, y, set())


def _torch_bsff(tiles):
    torch.manual_seed(0)
    ref = TorchBSFF((1, 28, 28), tiles)
    groups = [list(c.parameters()) + list(b.parameters()) for c, b in zip(ref.convs, ref.bns)]
    for g, pre in zip(groups, ref.pres):
        g += list(pre.parameters())
    optims = [torch.optim.Adam(g, lr=0.01) for g in groups] + [
        torch.optim.Adam(ref.head.parameters(), lr=HEAD_LR)]
    return ref, optims


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="MNIST folder (default: noise images)")
    ap.add_argument("--images", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--tiles", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3,
                    help="epochs per side (each round times one epoch of every side)")
    ap.add_argument("--sides", default="dense,cwc",
                    help="comma list of: dense, index (BSFF through the simulator on that "
                         "backend), cwc (real-valued CwC-FF), torch-bsff (BSFF in plain torch)")
    args = ap.parse_args()
    x, y, what = load_images(args.data_dir, args.images)
    bs, steps = args.batch_size, args.images // args.batch_size
    if steps < 1:
        raise SystemExit(f"Error: --images {args.images} is less than one batch of {bs}")
    names = [s.strip() for s in args.sides.split(",") if s.strip()]
    bad = [n for n in names if n not in ("dense", "index", "cwc", "torch-bsff")]
    if bad or not names:
        raise SystemExit(f"Error: unknown side {bad[0] if bad else ''!r} in --sides")
    sides = {}
    for name in names:  # same seed, so every side starts from the same weights where shared
        torch.manual_seed(0)
        if name == "torch-bsff":
            sides[name] = (_torch_bsff(args.tiles), _torch_step)
            continue
        algo = "cwc" if name == "cwc" else "bsff"
        cfg = TrainConfig(algo=algo, tiles=args.tiles, schedule="none",  # every block trains
                          arch="cwc-mnist", backend="dense" if name == "cwc" else name).validate()
        sides[name] = (make_algorithm(cfg, (1, 28, 28), 10), _sim_step)
    for side, step in sides.values():  # warm-up step: Numba compilation, first-call costs
        step(side, x[:bs], y[:bs], (99, 0))
    times = {n: [0.0] * args.rounds for n in names}
    cpu = {n: [0.0] * args.rounds for n in names}
    for r in range(args.rounds):  # one epoch per side and round, interleaved step by step
        for s in range(steps):
            xb, yb = x[s * bs:(s + 1) * bs], y[s * bs:(s + 1) * bs]
            for n in (names if (r + s) % 2 == 0 else names[::-1]):
                side, step = sides[n]
                t0, c0 = time.perf_counter(), time.process_time()
                step(side, xb, yb, (r, s))
                times[n][r] += time.perf_counter() - t0
                cpu[n][r] += time.process_time() - c0
    n_img = steps * bs
    print(f"BSFF M={args.tiles} vs CwC-FF, CwC ConvNet, one epoch of {n_img} {what} images, "
          f"batch {bs}, {torch.get_num_threads()} torch threads, {args.rounds} rounds, steps "
          "interleaved")
    label = {"dense": "BSFF simulator, dense backend", "index": "BSFF simulator, index backend",
             "cwc": "CwC-FF real-valued (ReLU)", "torch-bsff": "BSFF in plain torch"}
    for n in names:
        t = times[n]
        print(f"  {label[n]:32s} " + " ".join(f"{v:7.2f}" for v in t)
              + f" s   best {min(t):6.2f} s  {n_img / min(t):7.1f} images/s")
    ref = "cwc" if "cwc" in names else names[-1]
    for n in names:
        if n != ref:
            per = [a / b for a, b in zip(times[n], times[ref])]
            print(f"  ratio {n} / {ref}: per round " + " ".join(f"{v:.2f}" for v in per)
                  + f", median {float(np.median(per)):.2f}, of best times "
                  f"{min(times[n]) / min(times[ref]):.2f}")
            # the work itself (CPU seconds of all threads; idle OpenMP workers sleep): on a
            # shared machine, where waiting for a core inflates wall times unevenly
            print(f"  CPU-time ratio {n} / {ref}: {sum(cpu[n]) / sum(cpu[ref]):.2f} "
                  f"({sum(cpu[n]) / args.rounds:.2f} s vs {sum(cpu[ref]) / args.rounds:.2f} s "
                  "per epoch)")


if __name__ == "__main__":
    main()
