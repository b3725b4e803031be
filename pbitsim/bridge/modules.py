"""``torch.nn`` modules over the simulated p-bit hardware, composable like ordinary layers.

* :class:`TiledLogistic` (``tiles=M``) and :class:`BinaryStochastic`: p-bit sampled activations,
  returning ``(counts_float, counts_uint8)``.
* :class:`BSNConv2d` and :class:`BSNLinear`: index-and-accumulate layers reading uint8 tile counts,
  with an optional folded input affine (the previous batch norm) and BGBSFF gradient quantization.
  ``backend='index'`` runs the index-and-accumulate kernels, ``'dense'`` torch's float product on
  the counts with the kernels' counts from their closed forms (same results up to float
  reassociation, identical counts; see :class:`pbitsim.bridge.functions.IndexConv2dFn`);
  :func:`set_backend` sets it for every index layer of a network.
* :class:`FoldableBatchNorm2d` / :class:`FoldableBatchNorm1d`: batch norm that also reports the
  per-channel (per-feature) scale and shift it applied, so the next index layer can fold them
  into its weights.
* ``row_scale`` of the index layers: a per-sample factor on their outputs (before the bias),
  the next layer's view of an RMS-normalised (layer-norm) block output: the counts stay integers.

Randomness: each sampling call takes an explicit ``seed``; without one a module derives
``derive_seed(module.seed, call_number)``, so a fixed module seed gives a fixed sequence of spikes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .. import kernels as K
from ..network.counters import active_counter, uint_dtype
from ..network import costs
from ..precision import FP32, Precision
from . import tally
from .estimators import estimator as _estimator, quantizer as _quantizer
from .counted import counted_bn_backward
from .functions import (BSNSampleFn, IndexConf, IndexConv2dFn, IndexConvConf, IndexLinearFn,
                        MaxPoolCountsFn, NormTiledSampleFn, QuantizeGradFn, TiledSampleFn,
                        check_backend)

__all__ = ["TiledLogistic", "BinaryStochastic", "BSNConv2d", "BSNLinear", "FoldableBatchNorm2d",
           "FoldableBatchNorm1d", "QuantizeGrad", "max_pool_counts", "normalized_tiles",
           "set_backend", "set_precision"]


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

    Parameters
    ----------
    tiles : int
        M, p-bits per unit (``1..pbitsim.config.MAX_TILES``).
    estimator : {"mean-field", "straight-through"} or an estimator object
        The backward (see :mod:`pbitsim.bridge.estimators`).
    seed : int
        Base seed of calls made without an explicit ``seed``.
    device : device or str, optional
        The p-bit model that samples them (:mod:`pbitsim.hardware.devices`, or a spec string; default
        ideal). The backward assumes ideal p-bits, as training that does not know its devices
        would.

    Returns
    -------
    ``forward(z, seed=None)`` gives ``(counts as float32, counts as uint8)``.

    Counts
    ------
    Forward (the kernel's): ``pbit_sample`` = M x z.numel(), ``act_read:fp32`` and
    ``act_write:u<bits(M)>`` = z.numel(). Backward: :func:`pbitsim.network.costs.tiled_backward`
    (mean-field) or :func:`pbitsim.network.costs.straight_through_backward` of z.numel() units.
    """

    def __init__(self, tiles: int, estimator="mean-field", seed: int = 0, device=None):
        super().__init__(seed)
        self.device = K.parse_device(device)
        if int(tiles) < 1:
            raise ValueError(f"tiles must be >= 1, got {tiles}")
        self.tiles = int(tiles)
        self.estimator = _estimator(estimator)

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return TiledSampleFn.apply(z, self.tiles, self.next_seed(seed), self.estimator,
                                   self.device)

    def extra_repr(self) -> str:
        return f"tiles={self.tiles}, estimator={str(self.estimator)!r}, device={self.device!r}"


class BinaryStochastic(_Seeded):
    """A binary stochastic neuron per element: P(1) = sigmoid(z) (with the ideal ``device``)."""

    def __init__(self, seed: int = 0, device=None):
        super().__init__(seed)
        self.device = K.parse_device(device)

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return BSNSampleFn.apply(z, self.next_seed(seed), self.device)


class QuantizeGrad(_Seeded):
    """Identity whose backward quantizes the gradient (BGBSFF), e.g. before a real first layer."""

    def __init__(self, how, seed: int = 0):
        super().__init__(seed)
        if how is None:
            raise ValueError("QuantizeGrad needs a gradient quantizer, got None")
        self.how = _quantizer(how)

    def forward(self, z: torch.Tensor, seed: int | None = None):
        return QuantizeGradFn.apply(z, self.how, self.next_seed(seed))


def _as_counts(x: torch.Tensor, tiles: int) -> torch.Tensor:
    """uint8 tile counts: uint8 passes through; an integer-valued float tensor is converted."""
    if x.dtype == torch.uint8:
        return x
    if x.is_floating_point() and bool(((x == x.round()) & (x >= 0) & (x <= tiles)).all()):
        return x.to(torch.uint8)
    raise ValueError(f"index layers read integer tile counts 0..{tiles} (uint8), got {x.dtype}")


class _CountStats:
    """Statistics of the tile counts an index layer reads (for the estimate).

    Buffer ``in_stats`` ``[2, 3]`` float64: per mode (row 0 training, row 1 evaluation) the sum
    of the counts, the nonzero counts and the counts seen. :meth:`input_stats` gives the mean
    count and the nonzero fraction; :meth:`reset_eval_stats` clears the evaluation row.
    """

    #: The datapath (:mod:`pbitsim.precision`): fp32, or fixed point (:func:`set_precision`).
    precision: Precision = FP32

    def _draws(self) -> bool:
        """Whether a call draws random numbers (ternary errors, stochastic gradient rounding)."""
        return ((self.grad_quant is not None and self.grad_quant.stochastic)
                or self.precision.grad_bits is not None)

    def _init_stats(self):
        self.register_buffer("in_stats", torch.zeros(2, 3, dtype=torch.float64))

    def _observe(self, x: torch.Tensor) -> None:
        total = nonzero = 0
        if x.numel():  # one pass over the uint8 counts (the sum and the non-zeros together)
            rows = x.detach().contiguous().numpy().reshape(x.shape[0], -1)
            total, nonzero, _ = K.matmul_tap_stats(rows)
        with torch.no_grad():
            self.in_stats[0 if self.training else 1] += torch.tensor(
                [float(total), float(nonzero), float(x.numel())], dtype=torch.float64)

    def input_stats(self, training: bool = True) -> tuple[float, float] | None:
        """``(mean count, nonzero fraction)`` of the counts read in training (or evaluation),
        or None before any."""
        total, nonzero, seen = (float(v) for v in self.in_stats[0 if training else 1])
        return None if seen == 0 else (total / seen, nonzero / seen)

    def reset_eval_stats(self) -> None:
        with torch.no_grad():
            self.in_stats[1].zero_()


class BSNConv2d(_CountStats, _Seeded):
    """Convolution by index-and-accumulate over uint8 tile counts 0..``tiles_in``.

    ``forward(x, in_scale=None, in_shift=None, row_scale=None)`` computes
    ``row_scale[b] * conv2d(in_scale[c] * x + in_shift[c], weight) + bias`` (the previous
    layer's batch norm folded in, its layer norm applied to the outputs). ``groups``: grouped
    convolution, as ``nn.Conv2d``. ``grad_quant`` ('sign' or 'ternary') makes it a BGBSFF layer.
    ``backend``: 'index' or 'dense' (same semantics and counts).

    Counts
    ------
    Forward: :func:`pbitsim.network.costs.fold_input_affine` of the weights when ``in_scale`` is given
    (once per call); the product as :func:`pbitsim.kernels.index_conv2d` counts it (``add:fp32``
    = adds of weight rows, one per tap per unit of count; ``weight_read:fp32`` one per nonzero
    tap; ``act_read:uN`` = x.numel(); ``act_write:fp32`` = the output); the bias map
    (:func:`pbitsim.network.costs.bias`), or with ``row_scale`` :func:`pbitsim.network.costs.row_scale`.
    Backward: BGBSFF's :func:`pbitsim.network.costs.quantize`, the transposed product as
    :func:`pbitsim.kernels.index_conv2d_weight_grad` counts it (relabelled to int32 sums and
    ``u2``/``u1`` error words when quantized), :func:`pbitsim.network.costs.fold_input_affine_backward`,
    the bias gradient and :func:`pbitsim.network.costs.dequantize`. The training-mode statistics of
    ``x`` are kept (:meth:`input_stats`) for ``pbitsim estimate --counts``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, *, groups: int = 1, tiles_in: int = 1, bias: bool = True,
                 grad_quant=None, seed: int = 0, backend: str = "index"):
        super().__init__(seed)
        self.backend = check_backend(backend)
        self.stride, self.padding, self.tiles_in = int(stride), int(padding), int(tiles_in)
        self.groups = int(groups)
        self.grad_quant = _quantizer(grad_quant)
        ref = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                        bias=bias)
        self.weight = nn.Parameter(ref.weight.detach().clone())  # torch's default init
        self.bias = nn.Parameter(ref.bias.detach().clone()) if bias else None
        self._init_stats()

    @property
    def conf(self) -> IndexConvConf:
        """The configuration its products run on (:class:`~pbitsim.bridge.functions.IndexConvConf`;
        the backend and the datapath as last set)."""
        return IndexConvConf(self.tiles_in, self.backend, self.precision, self.grad_quant,
                             self.stride, self.padding, self.groups)

    def forward(self, x, in_scale=None, in_shift=None, seed: int | None = None, row_scale=None):
        x = _as_counts(x, self.tiles_in)
        self._observe(x)
        qseed = self.next_seed(seed) if self._draws() else 0
        bias = self.bias if row_scale is None else None
        out = IndexConv2dFn.apply(x, self.weight, bias, in_scale, in_shift, self.conf, qseed)
        return out if row_scale is None else _scale_rows(out, row_scale, self.bias)

    def extra_repr(self) -> str:
        o, c, kh, kw = self.weight.shape
        return (f"{c * self.groups}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, tiles_in={self.tiles_in}, "
                f"grad_quant={_name(self.grad_quant)!r}, backend={self.backend!r}")


class BSNLinear(_CountStats, _Seeded):
    """Dense layer by index-and-accumulate over uint8 counts ``[B, K]``; weight stored ``[K, N]``.

    ``forward(x, in_scale=None, in_shift=None, row_scale=None, seed=None)``: as
    :class:`BSNConv2d` (``grad_quant`` makes it a BGBSFF layer; ``seed`` drives its ternary
    rounding). ``backend``: 'index' or 'dense', as for :class:`BSNConv2d`.

    Counts
    ------
    As :class:`BSNConv2d`, with :func:`pbitsim.kernels.index_matmul` and
    :func:`pbitsim.kernels.index_matmul_xt` for the products.
    """

    def __init__(self, in_features: int, out_features: int, *, tiles_in: int = 1, bias: bool = True,
                 grad_quant=None, seed: int = 0, backend: str = "index"):
        super().__init__(seed)
        self.backend = check_backend(backend)
        self.grad_quant = _quantizer(grad_quant)
        self.tiles_in = int(tiles_in)
        bound = 1.0 / math.sqrt(in_features)  # torch.nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound)) if bias else None
        self._init_stats()

    @property
    def conf(self) -> IndexConf:
        """The configuration its products run on (:class:`~pbitsim.bridge.functions.IndexConf`)."""
        return IndexConf(self.tiles_in, self.backend, self.precision, self.grad_quant)

    def forward(self, x, in_scale=None, in_shift=None, row_scale=None, seed: int | None = None):
        x = _as_counts(x, self.tiles_in)
        self._observe(x)
        bias = self.bias if row_scale is None else None
        qseed = self.next_seed(seed) if self._draws() else 0
        out = IndexLinearFn.apply(x, self.weight, bias, in_scale, in_shift, self.conf, qseed)
        return out if row_scale is None else _scale_rows(out, row_scale, self.bias)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[0]}, {self.weight.shape[1]}, tiles_in={self.tiles_in}, "
                f"grad_quant={_name(self.grad_quant)!r}, backend={self.backend!r}")


def set_backend(module: nn.Module, backend: str) -> nn.Module:
    """Run every index layer (:class:`BSNConv2d`, :class:`BSNLinear`) in ``module`` on
    ``backend`` ('index' or 'dense'); returns ``module``. An execution choice, like a device:
    results agree up to float reassociation and the counts are identical."""
    check_backend(backend)
    for m in module.modules():
        if isinstance(m, (BSNConv2d, BSNLinear)):
            m.backend = backend
    return module


def set_precision(module: nn.Module, prec: Precision) -> nn.Module:
    """Give every layer of ``module`` that runs a product (index layers, counted real layers)
    the datapath ``prec`` (:class:`pbitsim.precision.Precision`); returns ``module``."""
    from .counted import _Counted
    for m in module.modules():
        if isinstance(m, (BSNConv2d, BSNLinear, _Counted)):
            m.precision = prec
    return module


def _name(variant) -> str | None:
    """A variant's name (as the module was configured), None for none."""
    return None if variant is None else str(variant)


def _scale_rows(out: torch.Tensor, row_scale: torch.Tensor, bias) -> torch.Tensor:
    """``row_scale[b] * out + bias``: a per-sample factor (layer norm) and then the bias."""
    view = (-1,) + (1,) * (out.dim() - 1)
    y = out * row_scale.reshape(view)
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * (out.dim() - 2))
    tally.record(active_counter(), costs.row_scale(out.numel(), out.shape[1], bias is not None))
    if y.requires_grad:
        n, ch, has_bias = out.numel(), out.shape[1], bias is not None
        # backward: the gradient times the row factor, and the bias gradient's sum
        y.register_hook(lambda g: tally.record(active_counter(),
                                               costs.row_scale_backward(n, ch, has_bias)))
    return y


class _Foldable:
    """Batch norm returning ``(y, scale, shift)`` with ``y = scale[c] * x + shift[c]``.

    ``scale``/``shift`` are detached (batch statistics in training, running ones in eval), ready
    to be folded into the next layer's weights; the counts of the normalisation are added.
    The running statistics average the first batches evenly (momentum 1/t) and then
    exponentially (momentum 0.1): a plain exponential average keeps 0.9^t of its initial
    (0, 1) for t steps, which skews the test pass of short runs.

    Counts
    ------
    :func:`pbitsim.network.costs.batchnorm` in training, :func:`pbitsim.network.costs.batchnorm_eval` in
    evaluation, with the input read at ``in_dtype`` (``uN`` for tile counts, which the hardware
    sums in integers). The backward is counted by
    :func:`pbitsim.bridge.counted.counted_bn_backward` on the output.
    """

    in_dtype = "fp32"  # width of the input words (``uN`` when it normalises tile counts)

    def forward(self, x):
        if not (self.training and self.track_running_stats):
            y = super().forward(x)
            with torch.no_grad():
                if self.training:
                    dims = (0,) + tuple(range(2, x.dim()))
                    var, mean = torch.var_mean(x, dim=dims, correction=0)
                else:
                    var, mean = self.running_var, self.running_mean
                scale = self.weight.detach() / torch.sqrt(var + self.eps)
                shift = self.bias.detach() - mean * scale
        else:  # the batch statistics come out of the normalisation itself: no second pass
            y, mean, invstd = torch.native_batch_norm(x, self.weight, self.bias,
                                                      self.running_mean, self.running_var, True,
                                                      self._step_momentum(), self.eps)
            with torch.no_grad():
                scale = self.weight.detach() * invstd
                shift = self.bias.detach() - mean * scale
        tally.count_bn(active_counter(), x.shape, self.training, self.in_dtype)
        return y, scale, shift

    #: True while the statistics are recalibrated (:mod:`pbitsim.training.calibration`):
    #: every batch weighs the same (momentum 1/t throughout).
    averaging = False

    def _step_momentum(self) -> float:
        """The momentum of this step's running-statistics update (counts the step)."""
        t = int(self.num_batches_tracked) + 1
        self.momentum = 1.0 / t if self.averaging else max(0.1, 1.0 / t)
        self.num_batches_tracked.add_(1)
        return self.momentum

    @torch.no_grad()
    def batch_stats(self, x: torch.Tensor):
        """Training step without the normalised output: the batch mean and ``1 / sqrt(var +
        eps)`` per channel (float64 numpy, from :func:`pbitsim.kernels.channel_moments`), the
        running statistics updated as :meth:`forward` updates them. For a consumer that applies
        the affine itself (:func:`normalized_tiles`); counted as :meth:`forward` is."""
        mean, var = K.channel_moments(x.detach().contiguous().numpy())
        m = self._step_momentum()
        n = x.numel() // x.shape[1]
        self.running_mean.mul_(1.0 - m).add_(torch.from_numpy(mean).to(torch.float32), alpha=m)
        self.running_var.mul_(1.0 - m).add_(
            torch.from_numpy(var * (n / max(n - 1, 1))).to(torch.float32), alpha=m)
        tally.count_bn(active_counter(), x.shape, True, self.in_dtype)
        return mean, 1.0 / np.sqrt(var + self.eps)


class FoldableBatchNorm2d(_Foldable, nn.BatchNorm2d):
    __doc__ = "BatchNorm2d (per channel of ``[B, C, H, W]``). " + _Foldable.__doc__


class FoldableBatchNorm1d(_Foldable, nn.BatchNorm1d):
    __doc__ = "BatchNorm1d (per feature of ``[B, K]``). " + _Foldable.__doc__


def max_pool_counts(s: torch.Tensor, tiles: int, size: int = 2, counts: torch.Tensor | None = None):
    """``size`` x ``size`` max pooling of tile counts: float (differentiable) and uint8 (for the
    next index layer). Compares at the counts' width; backward routes each gradient.

    ``s``: the counts as float32 ``[B, C, H, W]``; ``counts``: the same counts as uint8 when the
    caller has them (the sampler returns both), else they are taken from ``s`` (checked to be
    integers 0..``tiles``). Pooled by :class:`~pbitsim.bridge.functions.MaxPoolCountsFn` on the
    uint8 counts, with torch's tie-breaking (the same values and gradients as
    ``F.max_pool2d(s, size)``).
    """
    if counts is None:
        counts = _as_counts(s.detach(), tiles)
    p, p_u8 = MaxPoolCountsFn.apply(s, counts, int(size))
    window = size * size
    tally.count_pool(active_counter(), p.shape, window, uint_dtype(tiles), train=p.requires_grad)
    if p.requires_grad:
        o_shape, i_shape = tuple(p.shape), tuple(s.shape)
        p.register_hook(lambda g: tally.count_pool_backward(active_counter(), o_shape, i_shape,
                                                            window))
    return p, p_u8


def normalized_tiles(norm: nn.Module, act: TiledLogistic, z: torch.Tensor, seed: int | None = None):
    """``act(norm(z)[0], seed)``: tiled units fed by a batch norm, as BSFF's blocks use them.

    A training-mode :class:`FoldableBatchNorm2d` (fp32 input) before ideal p-bits with the
    mean-field estimator runs fused (:class:`~pbitsim.bridge.functions.NormTiledSampleFn`):
    one statistics pass over ``z`` (:meth:`_Foldable.batch_stats`), the p-bits apply the
    normalisation as they read ``z``, and one backward kernel. The same samples as the unfused
    modules up to the float rounding of the statistics (a p-bit whose input lies within
    rounding of a threshold may fire differently), the same gradients up to rounding
    (tested), the same counts. Any other case runs the two modules.
    """
    fused = (isinstance(norm, FoldableBatchNorm2d) and isinstance(act, TiledLogistic)
             and norm.training and norm.track_running_stats and norm.affine
             and norm.in_dtype == "fp32" and isinstance(act.device, K.Ideal)
             and act.estimator.uses_slope and z.dim() == 4 and z.dtype == torch.float32)
    if not fused:
        return act(counted_bn_backward(norm(z)[0]), seed=seed)
    mean, invstd = norm.batch_stats(z)
    return NormTiledSampleFn.apply(z, norm.weight, norm.bias, mean, invstd, act.tiles,
                                   act.next_seed(seed))
