"""Helpers of the rules' training steps: optimizers and a loss that count what they do.

A rule's ``train.py`` (:mod:`pbitsim.rules`) builds its optimizers and its softmax
cross-entropy here, so that every step's Adam updates and losses enter the active counter
(:func:`pbitsim.network.counters.active_counter`) the same way, in the terms the estimator's
walk prices them (:func:`pbitsim.network.costs.adam`, :func:`pbitsim.network.costs.softmax_ce`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..bridge import tally
from ..network.counters import active_counter
from .optim import SGD, Adam

__all__ = ["adam", "count_adam", "cross_entropy", "shift_lr", "shift_sgd"]


def adam(params, lr: float) -> Adam:
    """Adam at rate ``lr`` over ``params`` (torch's defaults otherwise; pbitsim's copy of
    ``torch.optim.Adam``, :mod:`pbitsim.training.optim`). Its steps are not counted by the
    optimizer: the step calls :func:`count_adam` for the groups it updated."""
    return Adam(params, lr=lr)


def count_adam(groups) -> None:
    """Count one Adam update of every parameter of ``groups`` (lists of tensors)."""
    tally.count_adam(active_counter(), sum(p.numel() for g in groups for p in g))


def shift_lr(lr: float) -> float:
    """The power of two nearest ``lr``: the step of a shift-and-add update."""
    return 2.0 ** round(math.log2(lr))


def shift_sgd(params, lr: float) -> SGD:
    """BGBSFF's hardware update ``w -= 2^-k g``: plain SGD at a power-of-two rate
    (:func:`shift_lr`), no state (its counts: :func:`pbitsim.network.costs.shift_update`)."""
    return SGD(params, lr=shift_lr(lr))


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean softmax cross-entropy of ``logits`` against labels ``y``, its forward and
    backward counted (a training loss)."""
    tally.count_softmax_ce(active_counter(), logits.shape[0], logits.shape[1], train=True)
    return F.cross_entropy(logits, y)
