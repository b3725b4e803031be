"""Batch-norm statistics at the weights being tested: the calibration pass after training.

A running batch-norm statistic is an exponential average over the training steps, each step's
batch statistics taken at the weights *before* that step's update; while the weights move (the
last CwC-FF block's scale grows through the first epochs), the average lags the weights the
test uses (issue 23: 16 points of the goodness predictor on one MNIST epoch). After the last
training step :func:`recalibrate` resets every running statistic and recomputes it from
``config.CALIBRATION_SAMPLES`` training samples at the final weights: forward passes in
training mode (batch statistics, no gradients, no update) in batches of the run's batch size,
every batch weighted equally (momentum ``1/t``). A block frozen earlier by a schedule keeps its
weights, so the same pass gives its statistics too.

Rules whose running statistics are not what the test depends on are left alone:
CaFo's blocks run with their batch norms in evaluation mode in training too, so its predictors
learn and are tested on the same statistics (``Algorithm.refreshes_norms = False``). The pass
is training work: the trainer counts it with the training counts, and the estimator's rule
walks add it (:func:`pbitsim.estimator.algorithms._steps.calibration_forward`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..bridge.modules import _Foldable
from ..config import calibration_batches

__all__ = ["CALIBRATION_KEY", "CALIBRATION_ROWS_SEED", "norm_modules", "calibration_rows",
           "recalibrate"]

#: Seed key of the calibration passes' p-bit draws (training keys are (epoch, step); the test
#: pass uses 2**31 - 1, greedy MF's validation 2**31 - 2).
CALIBRATION_KEY = 2**31 - 3
#: Second seed word of the calibration subset's draw: ``default_rng([seed, this])``.
CALIBRATION_ROWS_SEED = 15485863


def norm_modules(algo) -> list:
    """The batch norms whose running statistics ``algo``'s test pass uses (empty if none, or
    if the rule keeps them as they are)."""
    if not algo.refreshes_norms:
        return []
    return [m for m in algo.model.modules()
            if isinstance(m, _Foldable) and m.track_running_stats]


def calibration_rows(train_idx: np.ndarray, batch_size: int, seed: int,
                     samples: int) -> list[np.ndarray]:
    """The data set rows of each calibration batch: a seeded permutation of the training rows,
    its first ``samples`` in batches of ``batch_size`` (:func:`config.calibration_batches`)."""
    order = train_idx[np.random.default_rng([seed, CALIBRATION_ROWS_SEED])
                      .permutation(len(train_idx))]
    out, start = [], 0
    for b in calibration_batches(len(train_idx), batch_size, samples):
        out.append(order[start:start + b])
        start += b
    return out


@torch.no_grad()
def recalibrate(algo, batches) -> int:
    """Recompute ``algo``'s running batch-norm statistics at its current weights from
    ``batches`` (an iterable of input tensors), each weighted equally; returns the samples
    used. Counted in the active counter (forward passes in training mode)."""
    norms = norm_modules(algo)
    if not norms:
        return 0
    model = algo.model
    was_training = model.training
    for m in norms:
        m.reset_running_stats()
        m.averaging = True
    samples = 0
    try:
        model.train()
        for j, x in enumerate(batches):
            algo.calibration_forward(x, (CALIBRATION_KEY, j))
            samples += x.shape[0]
    finally:
        for m in norms:
            m.averaging = False
        model.train(was_training)
    return samples
