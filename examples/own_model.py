"""Your own torch model and training loop on p-bit layers, its counts priced by pbitsim.

A two-layer net: a counted real first layer, a batch norm folded into p-bit sampling (M tiled
logistic units per hidden unit, :class:`pbitsim.TiledLogistic`), and an index-and-accumulate
output layer reading the tile counts (:class:`pbitsim.BSNLinear`). Every operation and memory
access of the forward and backward passes and of the optimizer step is counted under
``pbitsim.counting()`` and priced with ``pbitsim.price_counts`` on an energy table. The data
are synthetic (two Gaussian blobs per class), so the example needs no download::

    python examples/own_model.py [--tiles 7] [--steps 200] [--table horowitz-45nm]
"""

from __future__ import annotations

import argparse

import pbitsim  # before torch: sets the OpenMP wait policy the kernels run best with
import torch
import torch.nn as nn
import torch.nn.functional as F



class PbitMLP(nn.Module):
    def __init__(self, n_in: int, hidden: int, classes: int, tiles: int, seed: int = 0):
        super().__init__()
        self.fc1 = pbitsim.CountedLinear(n_in, hidden)
        self.norm = pbitsim.FoldableBatchNorm1d(hidden)
        self.act = pbitsim.TiledLogistic(tiles, seed=seed)
        self.fc2 = pbitsim.BSNLinear(hidden, classes, tiles_in=tiles, seed=seed + 1)

    def forward(self, x):
        z, _, _ = self.norm(self.fc1(x))      # FoldableBatchNorm returns (y, scale, shift)
        counts, _ = self.act(z)               # tile counts 0..M per hidden unit
        return self.fc2(counts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiles", type=int, default=7)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--table", default="horowitz-45nm")
    args = ap.parse_args(argv)

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 32, generator=g) * 2.0

    def batch(n):
        y = torch.randint(0, 4, (n,), generator=g)
        return centres[y] + torch.randn(n, 32, generator=g), y

    torch.manual_seed(0)
    model = PbitMLP(32, 64, 4, args.tiles)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    n_params = sum(p.numel() for p in model.parameters())
    train = pbitsim.OpCounter()
    for step in range(args.steps):
        x, y = batch(64)
        with pbitsim.counting(train) as c:
            loss = F.cross_entropy(model(x), y)
            pbitsim.count_softmax_ce(c, 64, 4, train=True)  # the loss torch computes
            opt.zero_grad()
            loss.backward()
            opt.step()
            pbitsim.count_adam(c, n_params)  # and its optimizer step
    model.eval()
    x, y = batch(1000)
    with torch.no_grad(), pbitsim.counting() as infer:
        acc = (model(x).argmax(1) == y).float().mean().item()

    trained = args.steps * 64
    price = pbitsim.price_counts(train, args.table)
    per_infer = pbitsim.price_counts(infer, args.table)["total_pj"] / 1000
    print(f"test accuracy {100 * acc:.1f}% after {args.steps} steps of 64 (M = {args.tiles})")
    print(f"training: {price['total_pj'] / trained / 1e6:.4g} uJ per sample on {args.table} "
          f"(compute {price['compute_pj'] / price['total_pj']:.0%}, memory "
          f"{price['memory_pj'] / price['total_pj']:.0%}, p-bit "
          f"{price['pbit_pj'] / price['total_pj']:.1%})")
    print(f"inference: {per_infer / 1e6:.4g} uJ per sample")
    top = sorted(price["by_key"].items(), key=lambda kv: -kv[1])[:3]
    print("largest terms: " + ", ".join(f"{k} {v / price['total_pj']:.0%}" for k, v in top))


if __name__ == "__main__":
    main()
