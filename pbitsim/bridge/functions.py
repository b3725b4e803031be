"""``torch.autograd.Function``s whose forward runs the Numba kernels of the simulated hardware.

Tensors cross to numpy with ``Tensor.numpy()`` (shared memory, no copy, CPU tensors only) and back
with ``torch.from_numpy``. Counts go to the counter of the enclosing ``pbitsim.counting()`` block
at the time each pass runs (forward and backward are counted where they happen).

Inputs to the index layers are integer tile counts (uint8); they carry no gradient: the layers
learn from local losses (forward-forward), so the error stops at each layer's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from .. import kernels as K
from ..config import BACKENDS
from ..network.counters import OpCounter, active_counter
from ..network import costs
from ..network.gradients import Quantizer
from ..precision import FP32, Precision
from . import fixed, tally

__all__ = ["TiledSampleFn", "BSNSampleFn", "IndexConf", "IndexConvConf", "IndexConv2dFn",
           "IndexLinearFn", "QuantizeGradFn", "MaxPoolCountsFn", "NormTiledSampleFn", "BACKENDS",
           "check_backend"]


def _np(t: torch.Tensor) -> np.ndarray:
    """A C-contiguous numpy view of a CPU tensor (copies only if ``t`` is not contiguous)."""
    return t.detach().contiguous().numpy()


class TiledSampleFn(torch.autograd.Function):
    """Tiled logistic unit: forward samples counts 0..M with p-bits; backward is the estimator
    (a :mod:`pbitsim.bridge.estimators` object).

    Returns ``(s_float, s_uint8)``: the same counts as float32 (differentiable) and as the
    uint8 tensor the next index layer reads.
    """

    @staticmethod
    def forward(ctx, z, tiles: int, seed: int, estimator, device=None):
        counter = active_counter()
        s_f = torch.empty(z.shape, dtype=torch.float32)
        # the ideal sampler also returns the float counts and, when a mean-field gradient will
        # be needed, the slope from the sigmoids it computes anyway (no second pass over z)
        fused = device is None or isinstance(device, K.Ideal)
        slope = (torch.empty(z.shape, dtype=torch.float32)
                 if fused and estimator.uses_slope and z.requires_grad else None)
        s = torch.from_numpy(K.tiled_logistic(
            _np(z), int(tiles), int(seed), counter, device=device,
            out_float=s_f.numpy() if fused else None,
            slope=None if slope is None else slope.numpy()))
        if not fused:
            s_f = s.to(torch.float32)
        ctx.save_for_backward(z if slope is None else slope)
        ctx.tiles = int(tiles)
        ctx.estimator = estimator
        ctx.has_slope = slope is not None
        ctx.mark_non_differentiable(s)
        return s_f, s

    @staticmethod
    def backward(ctx, g, _g_u8):
        (saved,) = ctx.saved_tensors
        dz = ctx.estimator.backward(g, saved, ctx.tiles, active_counter(), ctx.has_slope)
        return dz, None, None, None, None


class NormTiledSampleFn(torch.autograd.Function):
    """Tiled logistic units fed by a batch norm with batch statistics, in one pass over ``z``.

    ``forward(z, weight, bias, mean, invstd, tiles, seed)``: the p-bits sample
    ``alpha[c] * z + beta[c]`` (``alpha = weight * invstd``, ``beta = bias - mean * alpha``;
    ``mean``/``invstd`` float64 numpy ``[C]`` from :func:`pbitsim.kernels.channel_moments`) as
    they read ``z`` (:func:`pbitsim.kernels.tiled_logistic` with ``channel_affine``), so the
    normalised array is never written. Returns ``(s_float, s_uint8)`` like
    :class:`TiledSampleFn`. The backward is the mean-field estimator and the batch norm's
    backward in one kernel (:func:`pbitsim.kernels.norm_tiles_backward`). Counts: the
    sampler's (forward) and :func:`pbitsim.bridge.tally.count_dmean` plus the batch norm's
    backward (backward); the caller counts the batch norm's forward.
    """

    @staticmethod
    def forward(ctx, z, weight, bias, mean, invstd, tiles: int, seed: int):
        w64 = weight.detach().double().numpy()
        alpha = w64 * invstd
        beta = (bias.detach().double().numpy() - mean * alpha).astype(np.float32)
        want_slope = any(ctx.needs_input_grad[:3])
        s_f = torch.empty(z.shape, dtype=torch.float32)
        slope = torch.empty(z.shape, dtype=torch.float32) if want_slope else None
        s = torch.from_numpy(K.tiled_logistic(
            _np(z), int(tiles), int(seed), active_counter(), out_float=s_f.numpy(),
            slope=None if slope is None else slope.numpy(),
            channel_affine=(alpha.astype(np.float32), beta)))
        if want_slope:
            ctx.save_for_backward(z, slope, weight)
            ctx.stats = (mean, invstd)
        ctx.tiles = int(tiles)
        ctx.mark_non_differentiable(s)
        return s_f, s

    @staticmethod
    def backward(ctx, g, _g_u8):
        z, slope, weight = ctx.saved_tensors
        counter = active_counter()
        tally.count_dmean(counter, z.numel(), ctx.tiles)
        tally.count_bn_backward(counter, z.shape)
        dz, dw, db = K.norm_tiles_backward(_np(g), slope.numpy(), _np(z), *ctx.stats,
                                           _np(weight))
        return (torch.from_numpy(dz), torch.from_numpy(dw.astype(np.float32)),
                torch.from_numpy(db.astype(np.float32)), None, None, None, None)


class BSNSampleFn(torch.autograd.Function):
    """Binary stochastic neuron, P(1) = sigmoid(z); mean-field backward sigmoid'(z).

    Returns ``(s_float, s_uint8)`` like :class:`TiledSampleFn`.
    """

    @staticmethod
    def forward(ctx, z, seed: int, device=None):
        s = torch.from_numpy(K.bsn_sample(_np(z), int(seed), active_counter(), device=device))
        ctx.save_for_backward(z)
        ctx.mark_non_differentiable(s)
        return s.to(torch.float32), s

    @staticmethod
    def backward(ctx, g, _g_u8):
        (z,) = ctx.saved_tensors
        p = torch.sigmoid(z)
        tally.count_dmean(active_counter(), z.numel(), 1)
        return g * p * (1.0 - p), None, None


class MaxPoolCountsFn(torch.autograd.Function):
    """``size`` x ``size`` max pooling of tile counts by :func:`pbitsim.kernels.max_pool_counts`.

    ``forward(s_float, s_uint8, size)``: the counts as float32 (carrying the gradient) and the
    same counts as uint8 (what is compared). Returns ``(pooled float32, pooled uint8)``; the
    backward routes each error to its window's first maximum, as torch's ``max_pool2d`` does
    (same bits). Uncounted: the caller counts the pooling.
    """

    @staticmethod
    def forward(ctx, s_f, s_u8, size: int):
        p_u8, p_f, arg = K.max_pool_counts(_np(s_u8), int(size))
        ctx.size, ctx.in_hw = int(size), tuple(s_u8.shape[-2:])
        ctx.arg = arg
        p_u8 = torch.from_numpy(p_u8)
        ctx.mark_non_differentiable(p_u8)
        return torch.from_numpy(p_f), p_u8

    @staticmethod
    def backward(ctx, g, _g_u8):
        gi = K.max_pool_counts_backward(_np(g), ctx.arg, ctx.size, ctx.in_hw)
        return torch.from_numpy(gi), None, None


class QuantizeGradFn(torch.autograd.Function):
    """Identity forward; backward replaces the gradient by its BGBSFF quantization."""

    @staticmethod
    def forward(ctx, z, how, seed: int):
        ctx.how, ctx.seed = how, int(seed)
        return z.view_as(z)

    @staticmethod
    def backward(ctx, g):
        q, scale = ctx.how.quantize(g, ctx.seed)
        tally.count_quantize(active_counter(), g.numel(), ctx.how)
        return q * scale.reshape((1, -1) + (1,) * (g.dim() - 2)), None, None


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`pbitsim.config.BACKENDS`, else ValueError."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return backend


@dataclass(frozen=True)
class IndexConf:
    """What an index layer's products branch on, for one call: the configuration of a
    :class:`~pbitsim.bridge.modules.BSNLinear` (and, with the geometry of
    :class:`IndexConvConf`, of a :class:`~pbitsim.bridge.modules.BSNConv2d`).

    ``tiles``: M, the largest count ``x`` holds; ``backend``: ``'index'`` (the kernels) or
    ``'dense'`` (torch's float product, the kernels' counts from their closed forms); ``prec``:
    the datapath (fp32 or fixed point, :mod:`pbitsim.precision`); ``grad_quant``: BGBSFF's
    quantizer of the error (:mod:`pbitsim.bridge.estimators`), or None.
    """

    tiles: int
    backend: str = "index"
    prec: Precision = FP32
    grad_quant: Quantizer | None = None

    @property
    def dense(self) -> bool:
        """Whether the products run as torch's float products on the counts."""
        return self.backend == "dense"

    @property
    def integer_errors(self) -> bool:
        """Whether the weight gradient accumulates ``--grad-bits`` integer errors (fixed point)."""
        return self.prec.grad_bits is not None


@dataclass(frozen=True)
class IndexConvConf(IndexConf):
    """:class:`IndexConf` and the convolution's geometry (``weight`` is ``[O, C/groups, kh,
    kw]``)."""

    stride: int = 1
    padding: int = 0
    groups: int = 1


def _error_for_weight_grad(g, grad_quant, quant_seed: int, counter):
    """The output error an index layer's weight gradient accumulates: BGBSFF quantizes it (one
    scale per output channel or feature, returned; None otherwise). Also a fresh counter for
    the product's counts (None when nothing counts), relabelled by the caller when quantized."""
    scale = None
    if grad_quant is not None:
        g, scale = grad_quant.quantize(g, quant_seed)
        tally.count_quantize(counter, g.numel(), grad_quant)
    return g.contiguous(), scale, (OpCounter() if counter is not None else None)


def _weight_grad_counts(sub: OpCounter, grad_quant, prec) -> costs.Counts:
    """A float weight-gradient product's counts: integer sums on BGBSFF's quantized errors,
    and the kept input's width on a fixed-point datapath."""
    product = sub.as_dict()
    if grad_quant is not None:
        product = costs.quantized_accumulation(product, grad_quant, prec.int_acc_dtype)
    return costs.at_precision(product, "weight_grad", prec, int_errors=grad_quant is not None)


def _fold_weight(weight, in_scale, view_shape):
    """``weight * in_scale`` broadcast over input channels (BN scale folded into the weights)."""
    if in_scale is None:
        return weight.detach()
    tally.count_fold(active_counter(), weight.shape)
    return weight.detach() * _per_input(in_scale, view_shape)


def _per_input(v, view_shape):
    """A per-input-channel vector ``[C]`` shaped to multiply conv weights ``[O, C/groups, ..]``.

    ``view_shape`` is the broadcast shape ``(1, C, 1, 1)`` (or ``(K, 1)`` for dense weights), or
    ``(O, C/groups, 1, 1)`` for a grouped conv: output channel o reads the input channels of its
    group, ``o // (O / groups)``.
    """
    if view_shape[0] == 1 or len(view_shape) == 2:
        return v.reshape(view_shape)
    o, cg = view_shape[0], view_shape[1]
    groups = v.numel() // cg
    return v.reshape(groups, 1, cg).expand(groups, o // groups, cg).reshape(view_shape)


def _conv_product(conf: IndexConvConf, x, w_eff, counter):
    """``conv2d(x, w_eff)`` of the counts on the configured datapath and backend: ``(out, what
    the backward keeps of x, the tap statistics of the dense backend or None)``."""
    o, _, kh, kw = w_eff.shape
    if conf.prec.fixed:
        out = fixed.conv_forward(x, w_eff, conf.stride, conf.padding, conf.groups, conf.tiles,
                                 conf.backend, conf.prec, counter)
        return out, x, None
    if conf.dense:
        stats = K.conv2d_tap_stats(_np(x), (kh, kw), conf.stride, conf.padding, tiles=conf.tiles)
        xf = x.to(torch.float32)  # the float counts, kept for the weight gradient
        out = F.conv2d(xf, w_eff, None, conf.stride, conf.padding, 1, conf.groups)
        K.add_index_counts(counter, stats, "forward", o // conf.groups, x.numel(), out.numel())
        return out, xf, stats
    out = torch.from_numpy(K.index_conv2d(_np(x), _np(w_eff), conf.stride, conf.padding, counter,
                                          groups=conf.groups, tiles=conf.tiles))
    return out, x, None


def _conv_weight_grad(conf: IndexConvConf, x, g, ksize, quant_seed: int, stats, counter):
    """The weight gradient's product: ``(the error it accumulated, as float32; gw; the error's
    scale per output channel, or None)``. ``--grad-bits`` errors go into integer accumulators;
    otherwise the (BGBSFF-quantized) error into the float or index product, whose counts are
    restated at the datapath's widths."""
    if conf.integer_errors:
        gq, scale = fixed.quantize_error(g, conf.prec, quant_seed, counter)
        gw = fixed.conv_weight_grad(x, gq, ksize, conf.stride, conf.padding, conf.groups,
                                    conf.tiles, conf.backend, conf.prec, counter)
        return torch.from_numpy(gq.astype(np.float32)), gw, scale
    g, scale, sub = _error_for_weight_grad(g, conf.grad_quant, quant_seed, counter)
    if conf.dense:
        if conf.prec.fixed:  # the uint8 counts were kept
            stats = K.conv2d_tap_stats(_np(x), ksize, conf.stride, conf.padding, tiles=conf.tiles)
            x = x.to(torch.float32)
        o = g.shape[1]
        gw = conv2d_weight(x, (o, x.shape[1] // conf.groups, *ksize), g, conf.stride,
                           conf.padding, 1, conf.groups)
        K.add_index_counts(sub, stats, "weight_grad", o // conf.groups, x.numel(), gw.numel())
    else:
        gw = torch.from_numpy(K.index_conv2d_weight_grad(
            _np(x), _np(g), ksize, conf.stride, conf.padding, sub, groups=conf.groups,
            tiles=conf.tiles))
    if sub is not None:  # quantized errors accumulate as integers
        tally.record(counter, _weight_grad_counts(sub, conf.grad_quant, conf.prec))
    return g, gw, scale


class IndexConv2dFn(torch.autograd.Function):
    """``conv2d(in_scale * x + in_shift, weight, bias)`` for integer tile counts ``x`` (uint8).

    The previous layer's batch-norm affine is folded in: its per-channel scale into the weights
    (so the hardware indexes and accumulates ``weight * scale`` by the integer counts) and its
    shift into a bias map ``conv2d(in_shift over a zero-padded image, weight)``, which differs from
    a constant only at the borders, where zero padding cuts the kernel.

    ``conf`` (:class:`IndexConvConf`): the geometry (``groups``: grouped convolution), ``tiles``,
    ``grad_quant`` (BGBSFF: the incoming gradient quantized, so the weight-gradient accumulation
    runs on integers), ``backend``: ``'index'`` runs the index-and-accumulate kernels (the
    reference: adds the weight rows of every non-zero count, in a fixed order); ``'dense'`` runs
    torch's float convolution on the counts as float32, which returns the same sums up to float
    reassociation, and records the counts the kernels would report from their closed forms
    (:func:`pbitsim.kernels.conv2d_tap_stats`), so the counts are identical. ``prec``: a
    fixed-point :class:`pbitsim.precision.Precision` runs the products on integer weights and
    saturating accumulators (:mod:`pbitsim.bridge.fixed`). ``quant_seed`` seeds this call's
    stochastic rounding (ternary errors, ``grad_bits`` errors).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, in_scale, in_shift, conf: IndexConvConf,
                quant_seed: int = 0):
        counter = active_counter()
        o, c, kh, kw = weight.shape
        per_input = (1, c, 1, 1) if conf.groups == 1 else (o, c, 1, 1)  # c: channels per group
        w_eff = _fold_weight(weight, in_scale, per_input)
        out, x_kept, stats = _conv_product(conf, x, w_eff, counter)
        h, w = x.shape[2], x.shape[3]
        offset = bias.detach().reshape(1, o, 1, 1) if bias is not None else None
        if in_shift is not None:
            w_shift = (weight.detach() * _per_input(in_shift, per_input)).sum(1, keepdim=True)
            bias_map = F.conv2d(torch.ones(1, 1, h, w), w_shift, None, conf.stride, conf.padding)
            offset = bias_map if offset is None else bias_map + offset
        if offset is not None:  # one bias map, built once per step, added in one pass
            out += offset
            tally.count_bias(counter, out.shape)
        ctx.save_for_backward(x_kept, in_scale, in_shift)
        ctx.conf, ctx.quant_seed, ctx.stats = conf, quant_seed, stats
        ctx.ksize, ctx.in_hw, ctx.per_input = (kh, kw), (h, w), per_input
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, in_scale, in_shift = ctx.saved_tensors
        conf, per_input, counter = ctx.conf, ctx.per_input, active_counter()
        g, gw, scale = _conv_weight_grad(conf, x, g, ctx.ksize, ctx.quant_seed, ctx.stats,
                                         counter)
        o = gw.shape[0]
        if in_scale is not None:
            gw *= _per_input(in_scale, per_input)
        if in_shift is not None:
            g_sum = g.sum(0, keepdim=True)
            g_ones = conv2d_weight(torch.ones(1, 1, *ctx.in_hw), (o, 1, *ctx.ksize), g_sum,
                                   conf.stride, conf.padding)
            gw += g_ones * _per_input(in_shift, per_input)
        if in_scale is not None or in_shift is not None:
            tally.record(counter, costs.fold_input_affine_backward(gw.numel(), g.numel()))
        gb = None
        if ctx.has_bias:  # from the per-position sums when they exist
            gb = g_sum.sum((0, 2, 3)) if in_shift is not None else g.sum((0, 2, 3))
            tally.count_bias(counter, g.shape, backward=True)
        if scale is not None:
            gw *= scale.reshape(o, 1, 1, 1)
            if gb is not None:
                gb *= scale
            tally.record(counter, costs.dequantize(gw.numel() + (o if gb is not None else 0)))
        return None, gw, gb, None, None, None, None


def _linear_product(conf: IndexConf, x, w_eff, counter):
    """``x @ w_eff`` of the counts ``[B, K]`` on the configured datapath and backend, as
    :func:`_conv_product`."""
    if conf.prec.fixed:
        return fixed.linear_forward(x, w_eff, conf.tiles, conf.backend, conf.prec, counter), x, None
    if conf.dense:
        stats = K.matmul_tap_stats(_np(x), tiles=conf.tiles)
        xf = x.to(torch.float32)
        out = F.linear(xf, w_eff.T.contiguous())  # MKL's fast layout for N << K
        K.add_index_counts(counter, stats, "forward", w_eff.shape[1], x.numel(), out.numel())
        return out, xf, stats
    return torch.from_numpy(K.index_matmul(_np(x), _np(w_eff), counter, tiles=conf.tiles)), x, None


def _linear_weight_grad(conf: IndexConf, x, g, quant_seed: int, stats, counter):
    """The weight gradient's product ``x^T g`` (``[K, N]``), as :func:`_conv_weight_grad`."""
    if conf.integer_errors:
        gq, scale = fixed.quantize_error(g, conf.prec, quant_seed, counter)
        gw = fixed.linear_weight_grad(x, gq, conf.tiles, conf.backend, conf.prec, counter)
        return torch.from_numpy(gq.astype(np.float32)), gw, scale
    g, scale, sub = _error_for_weight_grad(g, conf.grad_quant, quant_seed, counter)
    if conf.dense:
        if conf.prec.fixed:  # the uint8 counts were kept
            stats = K.matmul_tap_stats(_np(x), tiles=conf.tiles)
            x = x.to(torch.float32)
        gw = (g.T @ x).T.contiguous()  # = x.T @ g, in the layout MKL runs fastest
        K.add_index_counts(sub, stats, "weight_grad", g.shape[1], x.numel(), gw.numel())
    else:
        gw = torch.from_numpy(K.index_matmul_xt(_np(x), _np(g), sub, tiles=conf.tiles))
    if sub is not None:  # quantized errors accumulate as integers
        tally.record(counter, _weight_grad_counts(sub, conf.grad_quant, conf.prec))
    return g, gw, scale


class IndexLinearFn(torch.autograd.Function):
    """``(in_scale * x + in_shift) @ weight + bias`` for integer counts ``x`` uint8 ``[B, K]``.

    ``weight`` is ``[K, N]`` (the kernel's layout). The folded shift becomes a bias
    ``in_shift @ weight``. ``conf`` (:class:`IndexConf`) and ``quant_seed`` as for
    :class:`IndexConv2dFn` (BGBSFF quantizes the incoming error per output feature; the dense
    backend's counts come from :func:`pbitsim.kernels.matmul_tap_stats`).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, in_scale, in_shift, conf: IndexConf, quant_seed: int = 0):
        counter = active_counter()
        k, n = weight.shape
        w_eff = _fold_weight(weight, in_scale, (k, 1))
        out, x_kept, stats = _linear_product(conf, x, w_eff, counter)
        b_eff = bias.detach().clone() if bias is not None else torch.zeros(n)
        if in_shift is not None:
            b_eff += in_shift @ weight.detach()
        if in_shift is not None or bias is not None:
            out += b_eff
            tally.count_bias(counter, out.shape)
        ctx.save_for_backward(x_kept, in_scale, in_shift)
        ctx.conf, ctx.quant_seed, ctx.stats = conf, quant_seed, stats
        ctx.has_bias = bias is not None
        return out

    @staticmethod
    def backward(ctx, g):
        x, in_scale, in_shift = ctx.saved_tensors
        counter = active_counter()
        g, gw, scale = _linear_weight_grad(ctx.conf, x, g, ctx.quant_seed, ctx.stats, counter)
        g_sum = g.sum(0)
        if ctx.has_bias:
            tally.count_bias(counter, g.shape, backward=True)
        if in_scale is not None:
            gw *= in_scale.reshape(-1, 1)
        if in_shift is not None:
            gw += in_shift.reshape(-1, 1) * g_sum.reshape(1, -1)
        if in_scale is not None or in_shift is not None:
            tally.record(counter, costs.fold_input_affine_backward(gw.numel(), g.numel()))
        if scale is not None:
            gw *= scale.reshape(1, -1)
            g_sum *= scale
            tally.record(counter, costs.dequantize(
                gw.numel() + (g_sum.numel() if ctx.has_bias else 0)))
        return None, gw, (g_sum if ctx.has_bias else None), None, None, None, None
