"""Real-valued torch layers that count their own work (forward now, backward when it runs).

Used for the parts of a network that stay real-valued (the first convolution of BSFF, which reads
the image, and every layer of CwC-FF, FF and BP), so all algorithms report counts in the same
vocabulary. Backward work is counted by a gradient hook on the layer output, so it is counted only
when a gradient actually flows (input gradients only when the input requires one, as in BP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..counters import active_counter
from .. import costs
from . import tally

__all__ = ["CountedConv2d", "CountedLinear", "counted_relu", "counted_max_pool", "counted_bn_backward"]


class _Counted:
    """What the counted real layers share: BGBSFF's quantized errors and where the input lives.

    ``grad_quant`` ('ternary' or 'sign'): the gradient reaching the output is quantized (BGBSFF),
    so the weight gradient adds the inputs and then scales each weight's sum once. ``saved``:
    where the input kept for the weight gradient lives (``act``, or ``stash`` under backprop).
    """

    saved = "act"

    def __init__(self, *args, grad_quant: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.grad_quant = grad_quant


class CountedConv2d(_Counted, nn.Conv2d):
    """``nn.Conv2d`` counting forward MACs, and weight- (and input-) gradient MACs in backward.

    Only taps that land inside the image are counted (zero padding contributes nothing), as the
    index kernels and the energy model count them. Numeric padding only (not ``'same'``).
    ``grad_quant`` and ``saved``: see :class:`_Counted`.

    Counts
    ------
    Forward: :func:`pbitsim.costs.product` ``("forward", macs, ...)`` with ``macs`` the in-image
    taps (:func:`pbitsim.bridge.tally.conv_macs`), the bias (:func:`pbitsim.costs.bias`) and,
    under backprop, the stashed input (:func:`pbitsim.costs.stash`). Backward, when a gradient
    flows: the weight gradient (``"weight_grad"``, quantized under BGBSFF), the bias gradient,
    and the input gradient (``"input_grad"``) when the input requires one.
    """

    def forward(self, x):
        out = super().forward(x)
        conf = (self.groups, self.stride, self.padding)
        counter = active_counter()
        tally.count_conv(counter, x.shape, self.weight.shape, out.shape, *conf)
        if self.saved == "stash" and out.requires_grad:
            tally.record(counter, costs.stash(x.numel()))
        if self.bias is not None:
            tally.count_bias(counter, out.shape)
        if out.requires_grad:
            x_shape, w_shape, o_shape = tuple(x.shape), tuple(self.weight.shape), tuple(out.shape)
            input_grad = x.requires_grad
            has_bias = self.bias is not None

            def hook(g):
                counter = active_counter()
                tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="weight_grad",
                                 quant=self.grad_quant, saved=self.saved)
                if has_bias:
                    tally.count_bias(counter, o_shape, backward=True)
                if input_grad:
                    tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="input_grad")
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
        out = super().forward(x)
        b, k, n = x.shape[0], self.in_features, self.out_features
        counter = active_counter()
        tally.count_dense(counter, b, k, n)
        if self.saved == "stash" and out.requires_grad:
            tally.record(counter, costs.stash(x.numel()))
        if self.bias is not None:
            tally.count_bias(counter, out.shape)
        if out.requires_grad:
            input_grad = x.requires_grad
            has_bias = self.bias is not None
            o_shape = tuple(out.shape)

            def hook(g):
                counter = active_counter()
                if self.grad_quant is None:
                    tally.count_dense(counter, b, k, n, kind="weight_grad", saved=self.saved)
                else:
                    tally.count_product(counter, b * k * n, "weight_grad", b * k, b * n,
                                        self.grad_quant, weights=k * n, saved=self.saved)
                if has_bias:
                    tally.count_bias(counter, o_shape, backward=True)
                if input_grad:
                    tally.count_dense(counter, b, k, n, kind="input_grad")
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
