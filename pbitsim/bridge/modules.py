"""``torch.nn`` modules over the simulated p-bit hardware, composable like ordinary layers.

* :class:`TiledLogistic` (``tiles=M``) and :class:`BinaryStochastic`: p-bit sampled activations,
  returning ``(counts_float, counts_uint8)``.
* :class:`BSNConv2d` and :class:`BSNLinear`: index-and-accumulate layers reading uint8 tile counts,
  with an optional folded input affine (the previous batch norm) and BGBSFF gradient quantization.
  ``backend='index'`` runs the index-and-accumulate kernels, ``'dense'`` torch's float product on
  the counts with the kernels' counts from their closed forms (same results up to float
  reassociation, identical counts; see :class:`pbitsim.bridge.functions.IndexConv2dFn`).
* :class:`FoldableBatchNorm2d`: batch norm that also reports the per-channel scale and shift it
  applied, so the next index layer can fold them into its weights.

Randomness: each sampling call takes an explicit ``seed``; without one a module derives
``derive_seed(module.seed, call_number)``, so a fixed module seed gives a fixed sequence of spikes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import kernels as K
from ..counters import active_counter
from . import tally
from .estimators import ESTIMATORS, QUANTIZERS
from .functions import (BSNSampleFn, IndexConv2dFn, IndexLinearFn, QuantizeGradFn, TiledSampleFn,
                        check_backend)

__all__ = ["TiledLogistic", "BinaryStochastic", "BSNConv2d", "BSNLinear", "FoldableBatchNorm2d",
           "QuantizeGrad", "set_backend"]


class _Seeded(nn.Module):
    """Holds a base seed and numbers the calls made without an explicit seed."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = int(seed)
        self.calls = 0

    def next_seed(self, seed: int | None) -> int:
        if seed is not None:
            return int(seed)
        self.calls += 1
        return K.derive_seed(self.seed, self.calls)


class TiledLogistic(_Seeded):
    """M binary units sharing a pre-activation, offsets ``i - 1/2``; output the count 0..M.

    ``device``: the p-bit model that samples them (a :mod:`pbitsim.kernels.devices` device or
    spec string; default ideal). The backward assumes ideal p-bits, as training that does not
    know its devices would.
    """

    def __init__(self, tiles: int, estimator: str = "mean-field", seed: int = 0, device=None):
        super().__init__(seed)
        self.device = K.parse_device(device)
        if int(tiles) < 1:
            raise ValueError(f"tiles must be >= 1, got {tiles}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
        self.tiles = int(tiles)
        self.estimator = estimator

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return TiledSampleFn.apply(z, self.tiles, self.next_seed(seed), self.estimator,
                                   self.device)

    def extra_repr(self) -> str:
        return f"tiles={self.tiles}, estimator={self.estimator!r}, device={self.device!r}"


class BinaryStochastic(_Seeded):
    """A binary stochastic neuron per element: P(1) = sigmoid(z) (with the ideal ``device``)."""

    def __init__(self, seed: int = 0, device=None):
        super().__init__(seed)
        self.device = K.parse_device(device)

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return BSNSampleFn.apply(z, self.next_seed(seed), self.device)


class QuantizeGrad(_Seeded):
    """Identity whose backward quantizes the gradient (BGBSFF), e.g. before a real first layer."""

    def __init__(self, how: str, seed: int = 0):
        super().__init__(seed)
        if how not in QUANTIZERS:
            raise ValueError(f"unknown gradient quantizer {how!r}; choose one of {', '.join(QUANTIZERS)}")
        self.how = how

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return QuantizeGradFn.apply(z, self.how, self.next_seed(seed))


def _as_counts(x: torch.Tensor, tiles: int) -> torch.Tensor:
    """uint8 tile counts: uint8 passes through; an integer-valued float tensor is converted."""
    if x.dtype == torch.uint8:
        return x
    if x.is_floating_point() and bool(((x == x.round()) & (x >= 0) & (x <= tiles)).all()):
        return x.to(torch.uint8)
    raise ValueError(f"index layers read integer tile counts 0..{tiles} (uint8), got {x.dtype}")


class BSNConv2d(_Seeded):
    """Convolution by index-and-accumulate over uint8 tile counts 0..``tiles_in``.

    ``forward(x, in_scale=None, in_shift=None)`` computes
    ``conv2d(in_scale[c] * x + in_shift[c], weight, bias)`` (the previous layer's batch norm
    folded in). ``grad_quant`` ('sign' or 'ternary') makes it a BGBSFF layer. ``groups``: a
    grouped convolution; ``backend``: 'index' or 'dense' (same semantics and counts).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, *, tiles_in: int = 1, bias: bool = True,
                 grad_quant: str | None = None, seed: int = 0, groups: int = 1,
                 backend: str = "index"):
        super().__init__(seed)
        if grad_quant is not None and grad_quant not in QUANTIZERS:
            raise ValueError(f"unknown gradient quantizer {grad_quant!r}")
        self.stride, self.padding, self.tiles_in = int(stride), int(padding), int(tiles_in)
        self.grad_quant = grad_quant
        self.groups, self.backend = int(groups), check_backend(backend)
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias,
                        groups=self.groups)
        self.weight = nn.Parameter(ref.weight.detach().clone())  # torch's default init
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None

    def forward(self, x, in_scale=None, in_shift=None, seed: int | None = None):
        x = _as_counts(x, self.tiles_in)
        qseed = self.next_seed(seed) if self.grad_quant == "ternary" else 0
        return IndexConv2dFn.apply(x, self.weight, self.bias, in_scale, in_shift, self.stride,
                                   self.padding, self.tiles_in, self.grad_quant, qseed,
                                   self.groups, self.backend)

    def extra_repr(self) -> str:
        o, c, kh, kw = self.weight.shape
        return (f"{c * self.groups}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, tiles_in={self.tiles_in}, "
                f"grad_quant={self.grad_quant!r}, backend={self.backend!r}")


class BSNLinear(nn.Module):
    """Dense layer by index-and-accumulate over uint8 counts ``[B, K]``; weight stored ``[K, N]``.

    ``backend``: 'index' or 'dense', as for :class:`BSNConv2d`.
    """

    def __init__(self, in_features: int, out_features: int, *, tiles_in: int = 1, bias: bool = True,
                 backend: str = "index"):
        super().__init__()
        self.tiles_in = int(tiles_in)
        self.backend = check_backend(backend)
        bound = 1.0 / math.sqrt(in_features)  # torch.nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None

    def forward(self, x, in_scale=None, in_shift=None):
        x = _as_counts(x, self.tiles_in)
        return IndexLinearFn.apply(x, self.weight, self.bias, in_scale, in_shift, self.tiles_in,
                                   self.backend)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[0]}, {self.weight.shape[1]}, tiles_in={self.tiles_in}, "
                f"backend={self.backend!r}")


def set_backend(module: nn.Module, backend: str) -> nn.Module:
    """Run every index layer (:class:`BSNConv2d`, :class:`BSNLinear`) in ``module`` on
    ``backend`` ('index' or 'dense'); returns ``module``. An execution choice, like a device:
    results agree up to float reassociation and the counts are identical."""
    check_backend(backend)
    for m in module.modules():
        if isinstance(m, (BSNConv2d, BSNLinear)):
            m.backend = backend
    return module


class FoldableBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that returns ``(y, scale, shift)`` with ``y = scale[c] * x + shift[c]``.

    ``scale``/``shift`` are detached (batch statistics in training, running ones in eval), ready
    to be folded into the next layer's weights; the counts of the normalisation are added.
    The running statistics average the first batches evenly (momentum 1/t) and then
    exponentially (momentum 0.1): a plain exponential average keeps 0.9^t of its initial
    (0, 1) for t steps, which skews the test pass of short runs.
    """

    def forward(self, x):
        if not (self.training and self.track_running_stats):
            y = super().forward(x)
            with torch.no_grad():
                if self.training:
                    var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=0)
                else:
                    var, mean = self.running_var, self.running_mean
                scale = self.weight.detach() / torch.sqrt(var + self.eps)
                shift = self.bias.detach() - mean * scale
        else:  # the batch statistics come out of the normalisation itself: no second pass
            self.momentum = max(0.1, 1.0 / (int(self.num_batches_tracked) + 1))
            self.num_batches_tracked.add_(1)
            y, mean, invstd = torch.native_batch_norm(x, self.weight, self.bias,
                                                      self.running_mean, self.running_var, True,
                                                      self.momentum, self.eps)
            with torch.no_grad():
                scale = self.weight.detach() * invstd
                shift = self.bias.detach() - mean * scale
        tally.count_bn(active_counter(), x.shape)
        return y, scale, shift


def max_pool_counts(s: torch.Tensor, tiles: int):
    """2x2 max pooling of tile counts, float (differentiable) and uint8 (for the next index layer)."""
    p = F.max_pool2d(s, 2)
    tally.count_pool(active_counter(), p.shape, 4, f"u{max(1, int(tiles).bit_length())}")
    return p, p.detach().to(torch.uint8)
