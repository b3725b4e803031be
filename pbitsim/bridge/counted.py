"""Real-valued torch layers that count their own work (forward now, backward when it runs).

Used for the parts of a network that stay real-valued (the first convolution of BSFF, which reads
the image, and every layer of CwC-FF, FF and BP), so all algorithms report counts in the same
vocabulary. Backward work is counted by a gradient hook on the layer output, so it is counted only
when a gradient actually flows (input gradients only when the input requires one, as in BP).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..network.counters import active_counter
from ..network import costs
from .. import kernels as K
from ..precision import ACT_ROUNDING, ACT_SCALE, FP32, Precision
from . import tally
from .estimators import quantizer
from .tally import numel

__all__ = ["CountedConv2d", "CountedLinear", "counted_relu", "counted_max_pool", "counted_bn_backward"]


class _Counted:
    """What the counted real layers share: BGBSFF's quantized errors and where the input lives.

    ``grad_quant`` ('ternary' or 'sign', or a quantizer object): the gradient reaching the
    output is quantized (BGBSFF), so the weight gradient adds the inputs and then scales each
    weight's sum once. ``saved``: where the input kept for the weight gradient lives (``act``,
    or ``stash`` under backprop).
    """

    saved = "act"
    #: The datapath (:mod:`pbitsim.precision`); fixed point runs :meth:`_fixed_product`.
    precision: Precision = FP32

    def __init__(self, *args, grad_quant=None, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.grad_quant = quantizer(grad_quant)
        self.seed = int(seed)  # of the stochastic rounding of --grad-bits errors
        self.calls = 0
        #: The next call's rounding seed, set by the network from its step's seed key
        #: (reproducible after a resume); None: ``derive_seed(seed, call number)``.
        self.step_seed: int | None = None

    def _product(self, x, product):
        """``product(x, weight)`` (no bias): fp32, or on the fixed-point datapath.

        Fixed point (fake quantization, :mod:`pbitsim.precision`): the weight quantized per
        output channel and the input per tensor to ``weight_bits`` (nearest), both with the
        straight-through gradient; their float product (the integer sums times the two scales)
        saturated to the accumulator's range per output channel; with ``grad_bits`` the error
        reaching the product is quantized per channel (stochastic, seeded) before both of its
        gradients. Counts: the quantizers (:func:`pbitsim.network.costs.quantize_fixed`) and one rescaling
        multiply per output (:func:`pbitsim.network.costs.dequantize`); the products' own counts are
        restated at the widths by the callers (:func:`pbitsim.network.costs.at_precision`).
        """
        prec = self.precision
        from . import fixed
        counter = active_counter()
        qw, w_scale = fixed.quantize_weight(self.weight, prec, counter)
        qx, x_scale = K.quantize(x.detach().contiguous().numpy(), prec.weight_bits,
                                 scale_rule=ACT_SCALE, rounding=ACT_ROUNDING,
                                 dtype=K.word_dtype(prec.acc_bits))
        tally.record(counter, costs.quantize_fixed(x.numel(), 1, prec.weight_dtype, "act"))
        wv = self.weight.dim() * [1]
        wv[0] = -1
        w_q = torch.from_numpy(qw.astype(np.float32)) * w_scale.reshape(wv)
        x_q = torch.from_numpy(qx.astype(np.float32)) * float(x_scale[0])
        w_ste = self.weight + (w_q - self.weight).detach()
        x_ste = x + (x_q - x).detach()
        out = product(x_ste, w_ste)
        lo, hi = K.acc_range(prec.acc_bits)
        unit = (w_scale * float(x_scale[0])).reshape((1, -1) + (1,) * (out.dim() - 2))
        out = torch.maximum(torch.minimum(out, hi * unit), lo * unit)
        tally.record(counter, costs.dequantize(out.numel()))
        if prec.grad_bits is not None and out.requires_grad:
            self.calls += 1
            seed = (K.derive_seed(self.seed, self.calls) if self.step_seed is None
                    else self.step_seed)
            out.register_hook(lambda g: self._quantized_error(g, seed))
        return out

    def _quantized_error(self, g, seed):
        from . import fixed
        q, scale = fixed.quantize_error(g, self.precision, seed, active_counter())
        return (torch.from_numpy(q.astype(np.float32))
                * scale.reshape((1, -1) + (1,) * (g.dim() - 2)))


class CountedConv2d(_Counted, nn.Conv2d):
    """``nn.Conv2d`` counting forward MACs, and weight- (and input-) gradient MACs in backward.

    Only taps that land inside the image are counted (zero padding contributes nothing), as the
    index kernels and the energy model count them. Numeric padding only (not ``'same'``).
    ``grad_quant`` and ``saved``: see :class:`_Counted`.

    Counts
    ------
    Forward: :func:`pbitsim.network.costs.product` ``("forward", macs, ...)`` with ``macs`` the in-image
    taps (:func:`pbitsim.bridge.tally.conv_macs`), the bias (:func:`pbitsim.network.costs.bias`) and,
    under backprop, the stashed input (:func:`pbitsim.network.costs.stash`). Backward, when a gradient
    flows: the weight gradient (``"weight_grad"``, quantized under BGBSFF), the bias gradient,
    and the input gradient (``"input_grad"``) when the input requires one.
    """

    def forward(self, x):
        if self.precision.fixed:
            out = self._product(x, lambda v, w: F.conv2d(v, w, None, self.stride, self.padding,
                                                         self.dilation, self.groups))
            if self.bias is not None:
                out = out + self.bias.reshape(1, -1, 1, 1)
        else:
            out = super().forward(x)
        conf = (self.groups, self.stride, self.padding)
        counter = active_counter()
        prec = self.precision
        tally.count_conv(counter, x.shape, self.weight.shape, out.shape, *conf, prec=prec)
        if self.saved == "stash" and out.requires_grad:
            tally.record(counter, costs.stash(x.numel(), prec.weight_dtype))
        if self.bias is not None:
            tally.count_bias(counter, out.shape)
        if out.requires_grad:
            x_shape, w_shape, o_shape = tuple(x.shape), tuple(self.weight.shape), tuple(out.shape)
            input_grad = x.requires_grad
            has_bias = self.bias is not None

            def hook(g):
                counter = active_counter()
                tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="weight_grad",
                                 quant=self.grad_quant, saved=self.saved, prec=prec)
                if has_bias:
                    tally.count_bias(counter, o_shape, backward=True)
                if input_grad:
                    tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="input_grad",
                                     prec=prec)
                tally.count_fixed_backward(counter, prec, numel(w_shape),
                                           numel(x_shape) if input_grad else 0)
            out.register_hook(hook)
        return out


class CountedLinear(_Counted, nn.Linear):
    """``nn.Linear`` counting forward MACs, and weight- (and input-) gradient MACs in backward.

    ``grad_quant`` and ``saved``: see :class:`_Counted` (BGBSFF's first layer; BP).

    Counts
    ------
    As :class:`CountedConv2d`, with ``macs`` = batch x in_features x out_features.
    """

    def forward(self, x):
        if self.precision.fixed:
            out = self._product(x, F.linear)
            if self.bias is not None:
                out = out + self.bias
        else:
            out = super().forward(x)
        b, k, n = x.shape[0], self.in_features, self.out_features
        counter = active_counter()
        prec = self.precision
        tally.count_dense(counter, b, k, n, prec=prec)
        if self.saved == "stash" and out.requires_grad:
            tally.record(counter, costs.stash(x.numel(), prec.weight_dtype))
        if self.bias is not None:
            tally.count_bias(counter, out.shape)
        if out.requires_grad:
            input_grad = x.requires_grad
            has_bias = self.bias is not None
            o_shape = tuple(out.shape)

            def hook(g):
                counter = active_counter()
                if self.grad_quant is None:
                    tally.count_dense(counter, b, k, n, kind="weight_grad", saved=self.saved,
                                      prec=prec)
                else:
                    tally.count_product(counter, b * k * n, "weight_grad", b * k, b * n,
                                        self.grad_quant, weights=k * n, saved=self.saved,
                                        prec=prec)
                if has_bias:
                    tally.count_bias(counter, o_shape, backward=True)
                if input_grad:
                    tally.count_dense(counter, b, k, n, kind="input_grad", prec=prec)
                tally.count_fixed_backward(counter, prec, k * n, b * k if input_grad else 0)
            out.register_hook(hook)
        return out


def counted_relu(z: torch.Tensor, saved: str = "act") -> torch.Tensor:
    """ReLU: a compare per element (and the 1-bit mask kept when training); backward a select."""
    out = F.relu(z)
    tally.count_relu(active_counter(), z.numel(), out.requires_grad, saved)
    if out.requires_grad:
        n = z.numel()
        out.register_hook(lambda g: tally.count_relu_backward(active_counter(), n, saved))
    return out


def counted_max_pool(z: torch.Tensor, size: int = 2, saved: str = "act") -> torch.Tensor:
    """``size`` x ``size`` max pooling of real activations; backward routes each gradient."""
    out = F.max_pool2d(z, size)
    window = size * size
    tally.count_pool(active_counter(), out.shape, window, train=out.requires_grad, saved=saved)
    if out.requires_grad:
        o_shape, i_shape = tuple(out.shape), tuple(z.shape)
        out.register_hook(lambda g: tally.count_pool_backward(active_counter(), o_shape, i_shape,
                                                              window, saved=saved))
    return out


def counted_bn_backward(y: torch.Tensor, saved: str = "act", dtype: str = "fp32") -> torch.Tensor:
    """Registers the count of batch norm's backward on its output ``y``; returns ``y``.

    ``dtype``: the width of the batch norm's saved input (``uN`` for tile counts).
    """
    if y.requires_grad:
        shape = tuple(y.shape)
        y.register_hook(lambda g: tally.count_bn_backward(active_counter(), shape, saved, dtype))
    return y
