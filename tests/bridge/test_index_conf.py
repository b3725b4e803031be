"""The index layers' configuration object: what their autograd functions branch on."""

import dataclasses

import numpy as np
import pytest
import torch

from pbitsim.bridge.estimators import QUANTIZERS
from pbitsim.bridge.functions import IndexConf, IndexConv2dFn, IndexConvConf, IndexLinearFn
from pbitsim.bridge.modules import BSNConv2d, BSNLinear, set_backend, set_precision
from pbitsim.network.counters import counting
from pbitsim.precision import FP32, make_precision


def test_conf_follows_the_module():
    conv = BSNConv2d(4, 6, 3, 2, 1, groups=2, tiles_in=5, grad_quant="ternary", backend="index")
    assert conv.conf == IndexConvConf(5, "index", FP32, QUANTIZERS["ternary"], 2, 1, 2)
    prec = make_precision(8, 24, 8)
    set_precision(set_backend(conv, "dense"), prec)
    assert conv.conf.backend == "dense" and conv.conf.dense and conv.conf.prec == prec
    assert conv.conf.integer_errors
    lin = BSNLinear(10, 3, tiles_in=2)
    assert lin.conf == IndexConf(2) and not lin.conf.integer_errors
    with pytest.raises(dataclasses.FrozenInstanceError):
        lin.conf.tiles = 3


@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_the_functions_take_the_conf(kind):
    """Called directly with a conf, the function gives the module's output, gradients and
    counts (the module adds only its statistics and seeds)."""
    rng = np.random.default_rng(0)
    torch.manual_seed(1)
    if kind == "conv":
        m = BSNConv2d(3, 4, 3, 1, 1, tiles_in=7, grad_quant="sign", backend="index")
        x = torch.from_numpy(rng.integers(0, 8, (2, 3, 5, 5)).astype(np.uint8))
        fn = IndexConv2dFn
    else:
        m = BSNLinear(12, 4, tiles_in=7, grad_quant="sign", backend="index")
        x = torch.from_numpy(rng.integers(0, 8, (3, 12)).astype(np.uint8))
        fn = IndexLinearFn
    scale = torch.from_numpy(rng.random(x.shape[1]).astype(np.float32) + 0.5)
    shift = torch.from_numpy(rng.standard_normal(x.shape[1]).astype(np.float32))
    runs = []
    for direct in (False, True):
        m.zero_grad()
        with counting() as c:
            y = (fn.apply(x, m.weight, m.bias, scale, shift, m.conf, 0) if direct
                 else m(x, scale, shift))
            y.backward(torch.ones_like(y))
        runs.append((y.detach(), m.weight.grad.clone(), m.bias.grad.clone(), c.as_dict()))
    (y0, w0, b0, c0), (y1, w1, b1, c1) = runs
    assert torch.equal(y0, y1) and torch.equal(w0, w1) and torch.equal(b0, b1)
    assert c0 == c1
