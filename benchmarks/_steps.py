"""What the in-process step benchmarks share: BSFF M=7 and CwC-FF on ``cfse-mnist`` and the
MNIST batches they step through (``bench_heap.py``, ``bench_sampler_steps.py``)."""

from __future__ import annotations

import pbitsim  # noqa: F401  (first, as the CLI does: its OpenMP setting must precede torch)
import numba
import numpy as np
import torch

from pbitsim.datasets import load_dataset
from pbitsim.training import TrainConfig
from pbitsim.training.algorithms import make_algorithm

BATCH = 128
RULES = ("bsff", "cwc")


def step_setup(data_dir: str, steps: int):
    """One thread for torch and Numba; ``steps`` batches of ``BATCH`` MNIST training images
    ``(x, y)``; and each rule of :data:`RULES` built as ``pbitsim train`` builds it (M=7,
    every block training, torch seeded 0): ``(x, y, {rule: algorithm})``."""
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    ds = load_dataset("mnist", data_dir)
    x = torch.from_numpy(ds.normalized(ds.train_x[:BATCH * steps]))
    y = torch.from_numpy(ds.train_y[:BATCH * steps].astype(np.int64))
    algos = {}
    for rule in RULES:
        torch.manual_seed(0)
        cfg = TrainConfig(algo=rule, tiles=7, arch="cfse-mnist", dataset="mnist",
                          schedule="none").validate()
        algos[rule] = make_algorithm(cfg, (1, 28, 28), 10)
    return x, y, algos
