"""The dense backend against the index kernels (the reference): same outputs up to float
reassociation, identical counts (every key), on every index layer type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pbitsim import OpCounter, counting
from pbitsim.bridge.modules import BSNConv2d, BSNLinear, set_backend
from pbitsim.network.archs import load_arch
from pbitsim.training.models import Net


def _counts(shape, tiles, seed, density=0.3):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.binomial(tiles, density, size=shape).astype(np.uint8))


def _run(layer, backend, x, g, args, seed):
    """Forward and backward on ``backend``: output, parameter gradients, counter."""
    layer.backend = backend
    layer.zero_grad(set_to_none=True)
    c = OpCounter()
    with counting(c):
        out = layer(x, *args, seed=seed)
        out.backward(g)
    grads = [p.grad.clone() for p in layer.parameters()]
    return out.detach(), grads, c


def _compare(layer, x, args, seed=0, exact_grads=False):
    torch.manual_seed(seed)
    g = None
    ref_out, ref_grads, ref_c = None, None, None
    for backend in ("index", "dense"):
        if g is None:
            with torch.no_grad():
                shape = layer(x, *args).shape
            g = torch.randn(shape)
        out, grads, c = _run(layer, backend, x, g, args, 12345)
        # the counts are right, not only equal: the forward product's adds and weight reads
        # from the taps torch lists
        want = _forward_counts_by_hand(layer, x)
        with torch.no_grad(), counting(OpCounter()) as fc:
            layer(x)
        assert {k: fc[k] for k in want} == want, backend
        if ref_out is None:
            ref_out, ref_grads, ref_c = out, grads, c
            continue
        # float32 sums of up to ~1e4 terms in another order: a few ulps of the largest sum
        torch.testing.assert_close(out, ref_out, rtol=0, atol=1e-5 * (float(ref_out.abs().max()) + 1))
        for a, b in zip(grads, ref_grads):
            if exact_grads:
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
            else:
                torch.testing.assert_close(a, b, rtol=0, atol=2e-5 * (float(b.abs().max()) + 1))
        assert c.as_dict() == ref_c.as_dict()  # every key, exactly


def _forward_counts_by_hand(layer, x):
    """``add:fp32`` and ``weight_read:fp32`` of a forward pass without a folded norm, counted
    apart from the kernels: ``unfold`` lists every output's taps (zeros where padded); a unit
    of count adds one weight row (the layer's outputs per group) and a nonzero tap fetches it
    once; the bias adds once per output and is read once per channel."""
    taps = x.float()
    if isinstance(layer, BSNConv2d):
        k = layer.weight.shape[-1]
        taps = torch.nn.functional.unfold(taps, k, padding=layer.padding, stride=layer.stride)
        channels, row = layer.weight.shape[0], layer.weight.shape[0] // layer.groups
        n_out = taps.shape[0] * channels * taps.shape[2]
    else:
        channels = row = layer.weight.shape[1]
        n_out = x.shape[0] * channels
    return {"add:fp32": row * int(taps.sum()) + n_out,
            "weight_read:fp32": row * int((taps > 0).sum()) + channels}


CONV_CASES = [  # (c_in, c_out, kernel, stride, padding, groups, h, w, tiles)
    (4, 6, 3, 1, 1, 1, 6, 5, 7),
    (4, 6, 3, 2, 1, 1, 7, 7, 1),
    (6, 9, 3, 1, 0, 3, 8, 6, 7),
    (8, 4, 2, 2, 0, 2, 9, 7, 3),
    (5, 5, 3, 1, 2, 5, 5, 6, 7),
    (3, 8, 1, 1, 0, 1, 4, 4, 2),
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("folded", [False, True])
def test_dense_conv_equals_index_conv(case, folded):
    c_in, c_out, k, stride, padding, groups, h, w, tiles = case
    torch.manual_seed(1)
    conv = BSNConv2d(c_in, c_out, k, stride, padding, tiles_in=tiles, groups=groups)
    x = _counts((5, c_in, h, w), tiles, seed=c_in * h + w)
    args = (torch.rand(c_in) + 0.5, torch.randn(c_in)) if folded else ()
    _compare(conv, x, args)


@pytest.mark.parametrize("how", ["ternary", "sign"])
@pytest.mark.parametrize("groups", [1, 2])
def test_dense_bgbsff_conv_equals_index_conv(how, groups):
    """Quantized gradients: the weight-gradient sums are integers, so both backends agree to
    the last bit before the per-channel scales."""
    torch.manual_seed(2)
    conv = BSNConv2d(4, 6, 3, 1, 1, tiles_in=7, grad_quant=how, groups=groups)
    x = _counts((6, 4, 7, 7), 7, seed=3)
    _compare(conv, x, (torch.rand(4) + 0.5, torch.randn(4)), exact_grads=True)


@pytest.mark.parametrize("folded", [False, True])
@pytest.mark.parametrize("tiles", [1, 7])
def test_dense_linear_equals_index_linear(folded, tiles):
    torch.manual_seed(3)
    lin = BSNLinear(40, 7, tiles_in=tiles)
    x = _counts((9, 40), tiles, seed=4)
    args = (torch.rand(40) + 0.5, torch.randn(40)) if folded else ()
    _compare(lin, x, args)


@pytest.mark.parametrize("how", ["ternary", "sign"])
def test_dense_bgbsff_linear_equals_index_linear(how):
    torch.manual_seed(4)
    lin = BSNLinear(30, 6, tiles_in=7, grad_quant=how)
    x = _counts((8, 30), 7, seed=5)
    _compare(lin, x, (torch.rand(30) + 0.5, torch.randn(30)), exact_grads=True)


def test_dense_rejects_counts_above_the_tiles():
    conv = BSNConv2d(1, 2, 3, 1, 1, tiles_in=7, backend="dense")
    with pytest.raises(ValueError, match="more than tiles=3"):
        conv.tiles_in = 3
        conv(torch.full((1, 1, 4, 4), 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match="unknown backend"):
        BSNLinear(3, 2, backend="gpu")


def test_set_backend_reaches_every_index_layer():
    net = Net(load_arch("cwc-mnist"), tiles=7)
    layers = [m for m in net.modules() if isinstance(m, (BSNConv2d, BSNLinear))]
    assert len(layers) == 4
    assert set_backend(net, "dense") is net
    assert {m.backend for m in layers} == {"dense"}
    set_backend(net, "index")
    assert {m.backend for m in layers} == {"index"}


def test_cwcnet_layers_have_identical_counts_on_both_backends():
    """Every index layer of a simulated CwC step, on the inputs it really gets (tile counts, the
    previous batch norm folded in), runs on both backends with identical counts and close
    results. (The whole step's counts differ slightly between backends: rounding differences in
    a pre-activation flip a p-bit whose uniform falls between the two sigmoids, ~1e-7 per draw,
    and the next layers then read other counts.)"""
    torch.manual_seed(0)
    net = set_backend(Net(load_arch("cwc-mnist"), tiles=7), "dense")
    calls = []
    hooks = [m.register_forward_hook(lambda mod, args, out: calls.append((mod, args)))
             for m in net.modules() if isinstance(m, (BSNConv2d, BSNLinear))]
    with counting(OpCounter()):
        net(torch.randn(8, 1, 28, 28), (0, 1))
    for h in hooks:
        h.remove()
    assert len(calls) == 4
    for layer, args in calls:
        _compare(layer, args[0], args[1:3])

    step = {}
    for backend in ("index", "dense"):  # the whole step: counts within a tiny tolerance
        torch.manual_seed(0)
        c = OpCounter()
        with counting(c):
            ys, logits = set_backend(Net(load_arch("cwc-mnist"), tiles=7), backend)(
                torch.randn(8, 1, 28, 28), (0, 1))
            (logits.sum() + sum(v.pow(2).mean() for v in ys)).backward()
        step[backend] = c.as_dict()
    assert step["dense"].keys() == step["index"].keys()
    for k, v in step["index"].items():
        assert abs(step["dense"][k] - v) <= 1e-4 * v, k


@pytest.mark.parametrize("backend", ["index", "dense"])
def test_index_layers_record_the_counts_they_read(backend):
    conv = BSNConv2d(3, 4, 3, 1, 1, tiles_in=7, backend=backend)
    xs = [_counts((5, 3, 6, 6), 7, seed=s) for s in (1, 2)]
    for x in xs:
        conv(x)
    conv.eval()
    conv(torch.zeros((0, 3, 6, 6), dtype=torch.uint8))  # an empty batch adds nothing
    allx = torch.cat(xs).numpy()
    mean, nonzero = conv.input_stats(training=True)
    assert mean == pytest.approx(allx.mean()) and nonzero == pytest.approx((allx != 0).mean())
    assert conv.input_stats(training=False) is None
