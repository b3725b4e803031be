"""Is a BSFF run's softmax head (Sf) limited by its training or by its sampled inputs?

Loads a finished BSFF run, draws one sampled pass of the last block's tile counts for N
training images and the whole test set (folded batch norm, as at test time), then trains
fresh linear heads on those fixed counts with Adam at each learning rate and prints their
test accuracy per epoch beside the run's own head on the same counts.

    python examples/head_probe.py runs/evidence/fmnist-full-bsff7 --images 15000 \
        --lr 1e-4,3e-4,1e-3,3e-3
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pbitsim  # noqa: F401  (before torch: passive OpenMP workers, see pbitsim/__init__)
import numpy as np
import torch
import torch.nn.functional as F

from pbitsim.datasets import load_dataset
from pbitsim.training import TrainConfig, Trainer


def last_counts(model, data, images, key):
    """uint8 tile counts of the last block ``[N, features]`` and that block's folded affine."""
    out = []
    with torch.no_grad():
        for b in range(0, len(images), 256):
            x = torch.from_numpy(data.normalized(images[b:b + 256]))
            _, (counts, scale, shift, _rows) = model.blocks(x, (key, b))
            out.append(counts.clone())
    return torch.cat(out), scale, shift


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished bsff/bgbsff run directory")
    ap.add_argument("--images", type=int, default=15000, help="training images to probe with")
    ap.add_argument("--lr", default="1e-4,3e-4,1e-3", help="comma-separated Adam rates")
    ap.add_argument("--test-images", type=int, default=None, help="first N test images [all]")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()

    saved = json.loads((args.run / "results.json").read_text())["config"]
    cfg = TrainConfig.from_recorded(saved)
    data = load_dataset(cfg.dataset, args.data_dir)
    trainer = Trainer(cfg, data, args.run)
    trainer.load_checkpoint()
    model = trainer.algo.model.eval()

    idx = np.sort(np.random.default_rng(1).permutation(len(data.train_y))[:args.images])
    x_tr, scale, shift = last_counts(model, data, data.train_x[idx], 5)
    n_test = args.test_images or len(data.test_y)
    x_te, _, _ = last_counts(model, data, data.test_x[:n_test], 6)
    y_tr = torch.from_numpy(data.train_y[idx]).long()
    y_te = torch.from_numpy(data.test_y[:n_test]).long()

    def features(x):
        return x.float() * scale + shift

    def accuracy(logits):
        return float((logits.argmax(1) == y_te).float().mean())

    with torch.no_grad():
        own = accuracy(features(x_te) @ model.head.weight + model.head.bias)
    print(f"run's own head on these counts: {own:.4f}")
    for lr in (float(v) for v in args.lr.split(",")):
        torch.manual_seed(0)
        lin = torch.nn.Linear(x_tr.shape[1], data.num_classes)
        opt = torch.optim.Adam(lin.parameters(), lr=lr)
        for epoch in range(args.epochs):
            for j in torch.randperm(len(x_tr)).split(cfg.batch_size):
                loss = F.cross_entropy(lin(features(x_tr[j])), y_tr[j])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                print(f"lr {lr:g} epoch {epoch + 1}: test {accuracy(lin(features(x_te))):.4f}",
                      flush=True)


if __name__ == "__main__":
    main()
