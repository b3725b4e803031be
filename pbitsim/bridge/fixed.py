"""The index layers' products on a fixed-point datapath (:mod:`pbitsim.precision`).

Used by :class:`pbitsim.bridge.functions.IndexConv2dFn` and
:class:`~pbitsim.bridge.functions.IndexLinearFn` when their precision is fixed point:

* the (batch-norm folded) fp32 weights are quantized per output channel to ``weight_bits``
  (nearest) and the integer weights are added into saturating ``acc_bits`` accumulators
  (:mod:`pbitsim.kernels.fixed_point`); the integer sums are rescaled by one fp32 multiply
  per output (:func:`pbitsim.network.costs.dequantize`);
* with ``grad_bits`` the output error is quantized per output channel (stochastic, seeded)
  and the weight gradient accumulates integer error words the same way.

Both backends compute the same integers: ``index`` runs the integer kernels; ``dense`` runs
torch's float product on the integer values when no partial sum can saturate or leave
float32's exact integers (``max|word| x`` the largest sum of counts an output adds
``< min(2^(acc_bits-1), 2^24)``), and otherwise runs the integer kernels too. The counts are
the same either way: the fp32 product's counts at the datapath's widths
(:func:`pbitsim.network.costs.at_precision`; the integer kernels count at those widths themselves,
a kernel test holds them to it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from ..network import costs
from .. import kernels as K
from ..network.counters import OpCounter
from ..precision import GRAD_ROUNDING, GRAD_SCALE, WEIGHT_ROUNDING, WEIGHT_SCALE
from . import tally

__all__ = ["quantize_weight", "quantize_error", "conv_forward", "conv_weight_grad",
           "linear_forward", "linear_weight_grad", "FLOAT_EXACT"]

#: float32 holds every integer below this exactly.
FLOAT_EXACT = 1 << 24


def _dense_ok(words: np.ndarray, max_sum: int, acc_bits: int) -> bool:
    """True when a float product of these integer words is exact and cannot saturate."""
    peak = int(np.abs(words.astype(np.int64)).max()) if words.size else 0
    return peak * int(max_sum) < min(FLOAT_EXACT, (1 << (acc_bits - 1)) - 1)


def quantize_weight(w: torch.Tensor, prec, counter) -> tuple[np.ndarray, torch.Tensor]:
    """Integer weights ``[O, ...]`` (axis 0: output channel) and their fp32 scales ``[O]``."""
    q, scale = K.quantize(w.detach().contiguous().numpy(), prec.weight_bits,
                           scale_rule=WEIGHT_SCALE, rounding=WEIGHT_ROUNDING,
                           dtype=K.word_dtype(prec.acc_bits))
    tally.record(counter, costs.quantize_fixed(w.numel(), len(scale), prec.weight_dtype,
                                               "weight"))
    return q, torch.from_numpy(scale.astype(np.float32))


def quantize_error(g: torch.Tensor, prec, seed: int, counter):
    """``(q, scale)``: the error ``[B, C, ...]`` as integers (numpy, same layout) with one fp32
    scale per channel (dim 1), stochastically rounded with ``seed``."""
    gc = g.detach().transpose(0, 1).contiguous().numpy()
    q, scale = K.quantize(gc, prec.grad_bits, scale_rule=GRAD_SCALE, rounding=GRAD_ROUNDING,
                           seed=seed, dtype=K.word_dtype(prec.acc_bits))
    tally.record(counter, costs.quantize_fixed(g.numel(), len(scale), prec.grad_dtype, "grad"))
    return np.ascontiguousarray(np.swapaxes(q, 0, 1)), torch.from_numpy(scale.astype(np.float32))


def _record_product(counter, sub: OpCounter, kind: str, prec) -> None:
    if counter is not None:
        tally.record(counter, costs.at_precision(sub.as_dict(), kind, prec))


def conv_forward(x, w_eff, stride, padding, groups, tiles, backend, prec, counter):
    """``conv2d(x, w_eff)`` on the fixed-point datapath: float32 ``[B, O, Ho, Wo]`` (the integer
    sums times each output channel's weight scale)."""
    o, cg, kh, kw = w_eff.shape
    q, scale = quantize_weight(w_eff, prec, counter)
    xn = x.contiguous().numpy()
    if backend == "dense" and _dense_ok(q, tiles * cg * kh * kw, prec.acc_bits):
        stats = K.conv2d_tap_stats(xn, (kh, kw), stride, padding, tiles=tiles)
        acc = F.conv2d(x.to(torch.float32), torch.from_numpy(q.astype(np.float32)), None,
                       stride, padding, 1, groups)
        sub = OpCounter() if counter is not None else None
        K.add_index_counts(sub, stats, "forward", o // groups, x.numel(), acc.numel())
        _record_product(counter, sub, "forward", prec)
    else:
        acc = torch.from_numpy(K.fixed_index_conv2d(
            xn, q, prec.acc_bits, stride, padding, counter, word_bits=prec.weight_bits,
            groups=groups, tiles=tiles).astype(np.float32))
    tally.record(counter, costs.dequantize(acc.numel()))
    return acc * scale.reshape(1, o, 1, 1)


def conv_weight_grad(x, gq: np.ndarray, ksize, stride, padding, groups, tiles, backend, prec,
                     counter) -> torch.Tensor:
    """The weight gradient on integer errors ``gq`` ``[B, O, Ho, Wo]``: integer sums as float32
    ``[O, C/groups, kh, kw]`` (not yet scaled)."""
    o = gq.shape[1]
    b, _, ho, wo = gq.shape
    if backend == "dense" and _dense_ok(gq, tiles * b * ho * wo, prec.acc_bits):
        xn = x.contiguous().numpy()
        stats = K.conv2d_tap_stats(xn, ksize, stride, padding, tiles=tiles)
        gw = conv2d_weight(x.to(torch.float32), (o, x.shape[1] // groups, *ksize),
                           torch.from_numpy(gq.astype(np.float32)), stride, padding, 1, groups)
        sub = OpCounter() if counter is not None else None
        K.add_index_counts(sub, stats, "weight_grad", o // groups, x.numel(), gw.numel())
        _record_product(counter, sub, "weight_grad", prec)
        return gw
    gw = K.fixed_index_conv2d_weight_grad(x.contiguous().numpy(), gq, ksize, prec.acc_bits,
                                           stride, padding, counter,
                                           word_bits=prec.grad_bits, groups=groups, tiles=tiles)
    return torch.from_numpy(gw.astype(np.float32))


def linear_forward(x, w_eff, tiles, backend, prec, counter):
    """``x @ w_eff`` (``w_eff`` ``[K, N]``) on the fixed-point datapath, float32 ``[B, N]``."""
    k, n = w_eff.shape
    qt, scale = quantize_weight(w_eff.T, prec, counter)  # one scale per output feature
    q = np.ascontiguousarray(qt.T)
    xn = x.contiguous().numpy()
    sub = OpCounter() if counter is not None else None
    if backend == "dense" and _dense_ok(q, tiles * k, prec.acc_bits):
        stats = K.matmul_tap_stats(xn, tiles=tiles)
        acc = x.to(torch.float32) @ torch.from_numpy(q.astype(np.float32))
        K.add_index_counts(sub, stats, "forward", n, x.numel(), acc.numel())
        _record_product(counter, sub, "forward", prec)
    else:
        acc = torch.from_numpy(K.fixed_index_matmul(
            xn, q, prec.acc_bits, counter, word_bits=prec.weight_bits,
            tiles=tiles).astype(np.float32))
    tally.record(counter, costs.dequantize(acc.numel()))
    return acc * scale


def linear_weight_grad(x, gq: np.ndarray, tiles, backend, prec, counter) -> torch.Tensor:
    """``x.T @ gq`` on integer errors ``gq`` ``[B, N]``: integer sums as float32 ``[K, N]``."""
    b, n = gq.shape
    xn = x.contiguous().numpy()
    sub = OpCounter() if counter is not None else None
    if backend == "dense" and _dense_ok(gq, tiles * b, prec.acc_bits):
        stats = K.matmul_tap_stats(xn, tiles=tiles)
        gw = x.to(torch.float32).T @ torch.from_numpy(gq.astype(np.float32))
        K.add_index_counts(sub, stats, "weight_grad", n, x.numel(), gw.numel())
        _record_product(counter, sub, "weight_grad", prec)
        return gw.contiguous()
    gw = K.fixed_index_matmul_xt(xn, gq, prec.acc_bits, counter, word_bits=prec.grad_bits,
                                  tiles=tiles)
    return torch.from_numpy(gw.astype(np.float32))
