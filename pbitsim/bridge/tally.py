"""The bridge's side of the cost vocabulary: torch shapes in, :mod:`pbitsim.network.costs` counts out.

The Numba kernels count their own work; everything torch computes around them (real
convolutions, batch norm, pooling, goodness, losses, optimizer steps) is counted here by calling
the same functions of :mod:`pbitsim.network.costs` that the analytic estimator calls, with the shapes
that actually ran. So a measured step and an estimated step differ only where the work depends
on the data (index-and-accumulate products, p-bit samples).

Every helper takes the counter first and is a no-op when it is None (uncounted runs pay
nothing). Convolutions count only the taps that land inside the image, not the zero padding.
"""

from __future__ import annotations

import functools

from ..network import costs
from ..network.counters import OpCounter
from ..network.gradients import MeanField, Quantizer
from ..precision import FP32, Precision

__all__ = [
    "PRODUCTS", "record", "conv_macs", "count_product", "grad_dtype", "count_conv",
    "count_dense", "count_bias", "count_quantize", "count_relu",
    "count_relu_backward", "count_bn", "count_bn_backward", "count_pool", "count_pool_backward",
    "count_goodness", "count_goodness_backward", "count_softmax_ce", "count_adam",
    "count_dmean", "count_fold", "numel", "count_fixed_backward",
]

PRODUCTS = ("forward", "weight_grad", "input_grad")
grad_dtype = costs.grad_dtype


def record(counter: OpCounter | None, counts) -> None:
    """Add a :class:`pbitsim.network.costs.Counts` to ``counter`` (nothing when None)."""
    if counter is not None and counts:
        counter.add_counts(counts)


@functools.lru_cache(maxsize=256)
def _taps_1d(size: int, out: int, k: int, stride: int, padding: int) -> int:
    """Kernel taps that land inside an input of ``size`` (not on padding), summed over outputs."""
    return sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - padding + t < size)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def conv_macs(x_shape, w_shape, out_shape, groups: int = 1, stride=1, padding=0) -> int:
    """Multiply-accumulates of a conv, taps on the zero padding skipped (as the index kernels do):
    ``B * O * (C / groups) * taps_h * taps_w`` with ``taps`` the in-image (output, tap) pairs.

    ``stride``/``padding``: an int or an (h, w) pair.
    """
    o, cg, kh, kw = (int(v) for v in w_shape)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    th = _taps_1d(int(x_shape[2]), int(out_shape[2]), kh, sh, ph)
    tw = _taps_1d(int(x_shape[3]), int(out_shape[3]), kw, sw, pw)
    return int(x_shape[0]) * o * cg * th * tw


def count_product(counter, macs: int, kind: str, n_in: int, n_out: int,
                  quant: Quantizer | None = None, weights: int = 0, saved: str = "act",
                  prec: Precision = FP32) -> None:
    """A real-valued product (see :func:`pbitsim.network.costs.product`), at the widths of ``prec``
    (:func:`pbitsim.network.costs.at_precision`)."""
    if counter is None or macs == 0:
        return
    if kind not in PRODUCTS:
        raise ValueError(f"unknown product {kind!r}; choose one of {', '.join(PRODUCTS)}")
    c = costs.product(kind, macs, n_in, n_out, weights=weights, quant=quant, saved=saved)
    record(counter, costs.at_precision(c, kind, prec, int_errors=quant is not None))


def count_conv(counter, x_shape, w_shape, out_shape, groups: int = 1, stride=1, padding=0,
               kind: str = "forward", quant: Quantizer | None = None, saved: str = "act",
               prec: Precision = FP32) -> None:
    """A real-valued convolution ``x_shape -> out_shape`` or, by ``kind``, its weight or input
    gradient (always pass the forward's shapes)."""
    if counter is None:
        return
    count_product(counter, conv_macs(x_shape, w_shape, out_shape, groups, stride, padding), kind,
                  numel(x_shape), numel(out_shape), quant,
                  weights=numel(w_shape) if kind == "weight_grad" else 0, saved=saved, prec=prec)


def count_dense(counter, batch: int, k: int, n: int, kind: str = "forward",
                saved: str = "act", prec: Precision = FP32) -> None:
    """A real-valued dense product ``[B, K] @ [K, N]`` or its weight or input gradient."""
    if counter is None:
        return
    b, k, n = int(batch), int(k), int(n)
    count_product(counter, b * k * n, kind, b * k, b * n,
                  weights=k * n if kind == "weight_grad" else 0, saved=saved, prec=prec)


def count_fixed_backward(counter, prec: Precision, weights: int, n_in: int) -> None:
    """A real layer's backward on ``--grad-bits`` errors: its integer weight-gradient sums (and
    its input-gradient sums, ``n_in``, under backprop) rescaled once each."""
    if counter is not None and prec.grad_bits is not None:
        record(counter, costs.dequantize(weights + n_in))


def count_bias(counter, out_shape, backward: bool = False) -> None:
    """A bias added to an output ``[B, C, ...]`` (or, ``backward``, its gradient)."""
    if counter is None:
        return
    fn = costs.bias_grad if backward else costs.bias
    record(counter, fn(numel(out_shape), int(out_shape[1])))


def count_quantize(counter, n: int, how: Quantizer) -> None:
    """BGBSFF's quantization of ``n`` errors by ``how``."""
    if counter is not None and n:
        record(counter, how.counts(int(n)))


def count_relu(counter, n: int, train: bool, saved: str = "act") -> None:
    if counter is not None and n:
        record(counter, costs.relu(int(n), train, saved))


def count_relu_backward(counter, n: int, saved: str = "act") -> None:
    if counter is not None and n:
        record(counter, costs.relu_backward(int(n), saved))


def count_bn(counter, shape, train: bool = True, dtype: str = costs.FP) -> None:
    """Batch norm over ``shape`` ``[B, C, ...]`` (training: batch statistics; else running)."""
    if counter is None:
        return
    fn = costs.batchnorm if train else costs.batchnorm_eval
    record(counter, fn(numel(shape), int(shape[1]), dtype))


def count_bn_backward(counter, shape, saved: str = "act", dtype: str = costs.FP) -> None:
    if counter is not None:
        record(counter, costs.batchnorm_backward(numel(shape), int(shape[1]), saved, dtype))


def count_pool(counter, out_shape, window: int = 4, dtype: str = costs.FP, train: bool = False,
               saved: str = "act") -> None:
    """Max pooling to ``out_shape`` over ``window`` inputs per output."""
    if counter is not None:
        record(counter, costs.maxpool(numel(out_shape), window, dtype, train, saved))


def count_pool_backward(counter, out_shape, in_shape, window: int = 4, gdtype: str = costs.FP,
                        saved: str = "act") -> None:
    if counter is not None:
        record(counter, costs.maxpool_backward(numel(out_shape), numel(in_shape), window, gdtype,
                                               saved))


def count_goodness(counter, shape, outputs: int) -> None:
    """Goodness of ``shape`` into ``outputs`` sums (e.g. batch x classes)."""
    if counter is not None:
        record(counter, costs.goodness(numel(shape), int(outputs)))


def count_goodness_backward(counter, shape) -> None:
    if counter is not None:
        record(counter, costs.goodness_backward(numel(shape)))


def count_softmax_ce(counter, batch: int, classes: int, train: bool = True) -> None:
    if counter is not None:
        record(counter, costs.softmax_ce(int(batch), int(classes), train))


def count_dmean(counter, n: int, tiles: int) -> None:
    """Mean-field backward of ``n`` tiled units (a binary stochastic neuron: ``tiles`` 1)."""
    if counter is not None and n:
        record(counter, MeanField().backward_counts(int(n), int(tiles)))


def count_adam(counter, params: int) -> None:
    if counter is not None and params:
        record(counter, costs.adam(int(params)))


def count_fold(counter, w_shape) -> None:
    """The previous batch norm folded into an index layer's weights ``[O, C, ...]``/``[K, N]``."""
    if counter is not None:
        record(counter, costs.fold_input_affine(numel(w_shape)))
