"""What the in-process step benchmarks share: BSFF M=7 and CwC-FF on ``cfse-mnist`` and the
MNIST batches they step through (``bench_heap.py``, ``bench_sampler_steps.py``)."""

from __future__ import annotations

import pbitsim  # noqa: F401  (first, as the CLI does: its OpenMP setting must precede torch)
import resource

import numba
import numpy as np
import torch

from pbitsim import counting
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


def warm_up(algo, x, y) -> None:
    """One counted step (seed key (99, 0)): compilation, Numba cache loads, first calls."""
    with counting():
        algo.train_step(x[:BATCH], y[:BATCH], (99, 0), 0.0)


def timed_steps(algo, x, y, steps: int, round_: int) -> tuple[float, float, int]:
    """``steps`` counted training steps of ``algo`` on consecutive batches of ``BATCH`` (seed
    keys ``(round_, s)``), measured with ``getrusage``: CPU seconds (user + system), system
    seconds and minor page faults, in all."""
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for s in range(steps):
        with counting():
            algo.train_step(x[s * BATCH:(s + 1) * BATCH], y[s * BATCH:(s + 1) * BATCH],
                            (round_, s), 0.0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, r1.ru_stime - r0.ru_stime,
            r1.ru_minflt - r0.ru_minflt)
