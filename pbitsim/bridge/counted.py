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
from . import tally

__all__ = ["CountedConv2d", "CountedLinear", "counted_relu", "counted_max_pool", "counted_bn_backward"]


class CountedConv2d(nn.Conv2d):
    """``nn.Conv2d`` counting forward MACs, and weight- (and input-) gradient MACs in backward.

    Only taps that land inside the image are counted (zero padding contributes nothing), as the
    index kernels and the energy model count them. Numeric padding only (not ``'same'``).
    ``grad_quant`` ('ternary' or 'sign'): the gradient reaching the output is quantized (BGBSFF),
    so the weight gradient adds the inputs and then scales each weight's sum once.
    """

    def __init__(self, *args, grad_quant: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.grad_quant = grad_quant

    def forward(self, x):
        out = super().forward(x)
        conf = (self.groups, self.stride, self.padding)
        tally.count_conv(active_counter(), x.shape, self.weight.shape, out.shape, *conf)
        if out.requires_grad:
            x_shape, w_shape, o_shape = tuple(x.shape), tuple(self.weight.shape), tuple(out.shape)
            input_grad = x.requires_grad

            def hook(g):
                counter = active_counter()
                tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="weight_grad",
                                 quant=self.grad_quant)
                if input_grad:
                    tally.count_conv(counter, x_shape, w_shape, o_shape, *conf, kind="input_grad")
                if counter is not None:
                    counter.add("grad_write", self.weight.numel(), "fp32")
                    if self.grad_quant is not None:
                        counter.add("mul", self.weight.numel(), "fp32")
            out.register_hook(hook)
        return out


class CountedLinear(nn.Linear):
    """``nn.Linear`` counting forward MACs, and weight- (and input-) gradient MACs in backward.

    ``grad_quant`` ('ternary' or 'sign'): as :class:`CountedConv2d` (BGBSFF's first layer).
    """

    def __init__(self, *args, grad_quant: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.grad_quant = grad_quant

    def forward(self, x):
        out = super().forward(x)
        b, k, n = x.shape[0], self.in_features, self.out_features
        tally.count_dense(active_counter(), b, k, n)
        if out.requires_grad:
            input_grad = x.requires_grad

            def hook(g):
                counter = active_counter()
                if self.grad_quant is None:
                    tally.count_dense(counter, b, k, n, kind="weight_grad")
                else:
                    tally.count_product(counter, b * k * n, "weight_grad", b * k, b * n,
                                        self.grad_quant)
                if input_grad:
                    tally.count_dense(counter, b, k, n, kind="input_grad")
                if counter is not None:
                    counter.add("grad_write", self.weight.numel(), "fp32")
                    if self.grad_quant is not None:
                        counter.add("mul", self.weight.numel(), "fp32")
            out.register_hook(hook)
        return out


def _hook_elementwise(t: torch.Tensor, **ops) -> None:
    if t.requires_grad:
        n = t.numel()
        t.register_hook(lambda g: tally.count_elementwise(active_counter(), n, **ops))


def counted_relu(z: torch.Tensor) -> torch.Tensor:
    """ReLU: one comparison per element forward, one masked pass backward."""
    out = F.relu(z)
    tally.count_elementwise(active_counter(), z.numel(), cmp=1)
    _hook_elementwise(out, cmp=1)
    return out


def counted_max_pool(z: torch.Tensor, size: int = 2) -> torch.Tensor:
    """``size`` x ``size`` max pooling (stride ``size``) of real activations: ``size**2 - 1``
    comparisons per output; backward routes each gradient to its window."""
    out = F.max_pool2d(z, size)
    tally.count_pool(active_counter(), out.shape, size * size)
    _hook_elementwise(out, reads=1, writes=size * size)
    return out


def counted_bn_backward(y: torch.Tensor) -> torch.Tensor:
    """Registers the count of batch norm's backward on its output ``y``; returns ``y``."""
    if y.requires_grad:
        shape = tuple(y.shape)
        y.register_hook(lambda g: tally.count_bn_backward(active_counter(), shape))
    return y
