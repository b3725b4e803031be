"""The torch bridge against plain torch: forward equal for the same samples, gradients equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.nn.grad import conv2d_weight

from pbitsim import OpCounter, counting
from pbitsim import kernels as K
from pbitsim.bridge.counted import CountedConv2d
from pbitsim.bridge.estimators import quantize_grad
from pbitsim.bridge.modules import (BinaryStochastic, BSNConv2d, BSNLinear, FoldableBatchNorm2d,
                                    QuantizeGrad, TiledLogistic)
from pbitsim.network.archs import arch_from_mapping
from pbitsim.training import models as models_module
from pbitsim.training.models import Net

from naive import mean_field_torch


def _counts(shape, tiles, seed=0, density=0.4):
    rng = np.random.default_rng(seed)
    x = rng.binomial(tiles, density, size=shape).astype(np.uint8)
    return torch.from_numpy(x)


@pytest.mark.parametrize("h, w, stride, tiles, groups", [
    (6, 5, 1, 7, 1), (7, 7, 2, 1, 1), (4, 9, 1, 3, 1), (6, 6, 1, 3, 2), (5, 7, 2, 7, 2)])
def test_index_conv_folded_equals_torch(h, w, stride, tiles, groups):
    torch.manual_seed(0)
    x = _counts((3, 4, h, w), tiles)
    conv = BSNConv2d(4, 6, 3, stride, 1, groups=groups, tiles_in=tiles)
    scale, shift = torch.rand(4) + 0.5, torch.randn(4)
    out = conv(x, scale, shift)
    # reference: the batch-norm affine applied to the counts, then an ordinary zero-padded conv
    w_ref = conv.weight.detach().clone().requires_grad_(True)
    b_ref = conv.bias.detach().clone().requires_grad_(True)
    xa = x.float() * scale.view(1, 4, 1, 1) + shift.view(1, 4, 1, 1)
    ref = F.conv2d(xa, w_ref, b_ref, stride, 1, groups=groups)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    g = torch.randn_like(ref)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(conv.weight.grad, w_ref.grad, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(conv.bias.grad, b_ref.grad, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("row_scaled", [False, True])
def test_index_linear_folded_equals_torch(row_scaled):
    """Batch norm folded in; with ``row_scale`` also a layer norm (a factor per sample)."""
    torch.manual_seed(1)
    x = _counts((5, 12), 7)
    lin = BSNLinear(12, 4, tiles_in=7)
    scale, shift = torch.rand(12) + 0.5, torch.randn(12)
    rows = torch.rand(5) + 0.5 if row_scaled else None
    out = lin(x, scale, shift, row_scale=rows)
    w_ref = lin.weight.detach().clone().requires_grad_(True)
    b_ref = lin.bias.detach().clone().requires_grad_(True)
    xa = x.float() * scale + shift
    ref = (xa * rows.reshape(-1, 1) if row_scaled else xa) @ w_ref + b_ref
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    g = torch.randn_like(ref)
    out.backward(g)
    ref.backward(g)
    torch.testing.assert_close(lin.weight.grad, w_ref.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(lin.bias.grad, b_ref.grad)


def test_index_layers_accept_integer_floats_and_reject_others():
    lin = BSNLinear(3, 2, tiles_in=2)
    x = torch.tensor([[0.0, 1.0, 2.0]])
    torch.testing.assert_close(lin(x), lin(x.to(torch.uint8)))
    with pytest.raises(ValueError, match="integer tile counts"):
        lin(torch.tensor([[0.5, 1.0, 2.0]]))


@pytest.mark.parametrize("tiles", [1, 7])
def test_tiled_logistic_samples_and_mean_field_gradient(tiles):
    torch.manual_seed(2)
    z = (3 * torch.randn(4, 5, 6)).requires_grad_(True)
    act = TiledLogistic(tiles)
    s, s_u8 = act(z, seed=42)
    assert s_u8.dtype == torch.uint8
    np.testing.assert_array_equal(s_u8.numpy(), K.tiled_logistic(z.detach().numpy(), tiles, 42))
    torch.testing.assert_close(s, s_u8.float())
    g = torch.randn_like(s)
    s.backward(g)
    z_ref = z.detach().clone().requires_grad_(True)
    mean_field_torch(z_ref, tiles).backward(g)
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-4, atol=1e-5)
    # same seed -> same spikes; the module's own seed sequence is reproducible too
    assert torch.equal(act(z, seed=42)[1], s_u8)
    a1, a2 = TiledLogistic(tiles, seed=9), TiledLogistic(tiles, seed=9)
    assert torch.equal(a1(z)[1], a2(z)[1]) and torch.equal(a1(z)[1], a2(z)[1])


def test_mean_field_is_the_derivative_of_the_tiled_mean():
    """gradcheck of the float64 reference, and the kernel's dmean against finite differences."""
    z = torch.linspace(-4, 10, 29, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mean_field_torch(t, 7), (z,))
    zf = np.linspace(-4, 10, 29).astype(np.float32)
    eps = 1e-2
    fd = (K.tiled_mean(zf + eps, 7).astype(np.float64) - K.tiled_mean(zf - eps, 7)) / (2 * eps)
    np.testing.assert_allclose(K.tiled_dmean(zf, 7), fd, rtol=2e-3, atol=2e-4)


def test_mean_field_is_unbiased_for_a_linear_loss():
    """For loss = c . s, d E[loss]/dz = c * dmean(z): the estimator returns exactly that."""
    z = torch.tensor([-1.0, 0.3, 2.0, 5.0], requires_grad=True)
    c = torch.tensor([1.0, -2.0, 0.5, 3.0])
    s, _ = TiledLogistic(3)(z, seed=1)
    (c * s).sum().backward()
    torch.testing.assert_close(z.grad, c * torch.from_numpy(K.tiled_dmean(z.detach().numpy(), 3)))
    # and E[s] (Monte Carlo over seeds) is the tiled mean the gradient differentiates
    zz = np.repeat(z.detach().numpy()[None], 2000, axis=0)  # 2,000 independent draws per unit
    draws = K.tiled_logistic(zz, 3, 7)
    np.testing.assert_allclose(draws.mean(0), K.tiled_mean(z.detach().numpy(), 3), atol=0.08)


def test_straight_through_estimator_option():
    z = torch.tensor([-1.0, 0.3, 9.0], requires_grad=True)
    s, _ = TiledLogistic(7, estimator="straight-through")(z, seed=0)
    s.sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([1.0, 1.0, 0.0]))


def test_binary_stochastic_neuron():
    z = torch.randn(64, requires_grad=True)
    s, s_u8 = BinaryStochastic(seed=3)(z, seed=5)
    np.testing.assert_array_equal(s_u8.numpy(), K.bsn_sample(z.detach().numpy(), 5))
    s.sum().backward()
    p = torch.sigmoid(z.detach())
    torch.testing.assert_close(z.grad, p * (1 - p))


def test_quantizers_scale_each_channel():
    # [batch 4, channels 2]: channel 1's errors are 2-4x channel 0's
    g = torch.tensor([[0.3, -4.0], [-0.1, 1.0], [0.0, 2.0], [2.0, 0.5]])
    q, scale = quantize_grad(g, "sign", 0)
    assert torch.equal(q, torch.sign(g))
    torch.testing.assert_close(scale, torch.tensor([0.6, 1.875]))
    draws = torch.stack([quantize_grad(g, "ternary", k)[0] for k in range(4000)])
    assert set(draws.unique().tolist()) <= {-1.0, 0.0, 1.0}
    _, tscale = quantize_grad(g, "ternary", 0)
    torch.testing.assert_close(tscale, torch.tensor([2.0, 4.0]))
    # unbiased per channel: P(keep) = |g| / channel max (channel 0 is not drowned by channel 1)
    torch.testing.assert_close(draws.mean(0) * tscale, g, atol=0.08, rtol=0)
    assert draws[:, 0, 0].abs().mean() == pytest.approx(0.15, abs=0.03)
    z = torch.randn(2, 3, 2, 2, requires_grad=True)
    dz = torch.randn(2, 3, 2, 2)
    QuantizeGrad("sign")(z).backward(dz)
    torch.testing.assert_close(z.grad, torch.sign(dz) * dz.abs().mean((0, 2, 3)).reshape(1, 3, 1, 1))


def test_bgbsff_conv_weight_gradient_uses_the_channel_scales():
    x = _counts((2, 3, 5, 5), 7)
    conv = BSNConv2d(3, 4, 3, 1, 1, tiles_in=7, grad_quant="sign")
    out = conv(x)
    g = torch.randn_like(out) * torch.tensor([0.1, 1.0, 10.0, 100.0]).reshape(1, 4, 1, 1)
    out.backward(g)
    q, scale = quantize_grad(g, "sign", 0)
    ref = conv2d_weight(x.float(), conv.weight.shape, q * scale.reshape(1, 4, 1, 1), 1, 1)
    torch.testing.assert_close(conv.weight.grad, ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("how, width", [("sign", "u1"), ("ternary", "u2")])
def test_bgbsff_conv_update_is_integer_adds(how, width):
    x = _counts((2, 3, 5, 5), 7)
    conv = BSNConv2d(3, 4, 3, 1, 1, tiles_in=7, grad_quant=how)
    with counting() as c:
        out = conv(x)
        fwd = c.copy()
        out.backward(torch.randn_like(out))
    back = c.as_dict()
    # the weight-gradient accumulation of +-1 errors times tile counts: integer adds
    assert fwd["add:int32"] == 0 and back["add:int32"] >= 4 * int(x.sum())
    # the quantized error words are written once and read per use at their width
    assert back[f"grad_write:{width}"] == out.numel()
    assert back[f"grad_read:{width}"] > 0 and "grad_read:int32" not in back


@pytest.mark.parametrize("h, w, k, stride, padding", [(28, 28, 3, 1, 1), (7, 9, 3, 2, 1),
                                                      (5, 5, 5, 1, 2), (8, 8, 3, 1, 0)])
def test_real_conv_counts_skip_the_padding(h, w, k, stride, padding):
    conv = CountedConv2d(2, 3, k, stride, padding)
    x = torch.randn(2, 2, h, w, requires_grad=True)
    with counting() as c:
        out = conv(x)
        fwd = c.copy()
        out.sum().backward()
    # multiply-accumulates = the taps on image pixels: a convolution of ones by ones
    taps = int(F.conv2d(torch.ones(1, 1, h, w), torch.ones(1, 1, k, k), None, stride,
                        padding).sum())
    macs = 2 * 3 * 2 * taps
    # a weight fetched per MAC, and the 3 biases read once per call
    assert fwd["mul:fp32"] == macs and fwd["weight_read:fp32"] == macs + 3
    back = c.as_dict()
    # weight gradient (reads the output gradient per use) and input gradient (weights per use)
    assert back["mul:fp32"] == 3 * macs and back["grad_read:fp32"] == macs + out.numel()
    assert back["weight_read:fp32"] == 2 * macs + 3


def test_counts_in_context():
    x = _counts((2, 5), 3)
    lin = BSNLinear(5, 4, tiles_in=3)
    act = TiledLogistic(3)
    with counting() as c:
        z = lin(x)
        act(z, seed=0)
    assert c["pbit_sample"] == 3 * z.numel()
    assert c["add:fp32"] >= 4 * int(x.sum())  # the index-and-accumulate adds, and the biases
    assert c["act_read:u2"] == x.numel()
    before = c.copy()
    lin(x)  # outside the context: the closed counter gets nothing, and no counter is active
    assert c == before
    from pbitsim.network.counters import active_counter
    assert active_counter() is None
    with counting() as fresh:
        pass
    assert not fresh


def test_foldable_batchnorm_reports_its_affine():
    bn = FoldableBatchNorm2d(3, eps=1e-4)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.normal_()
    x = torch.rand(4, 3, 5, 5) * 7
    for mode in (bn.train, bn.eval):
        mode()
        y, scale, shift = bn(x)
        torch.testing.assert_close(y, x * scale.view(1, 3, 1, 1) + shift.view(1, 3, 1, 1),
                                   rtol=1e-5, atol=1e-5)


def test_foldable_batchnorm_running_stats_average_evenly_then_exponentially():
    torch.manual_seed(0)
    bn = FoldableBatchNorm2d(2)
    batches = [torch.randn(4, 2, 3, 3) * (1 + i) + i for i in range(14)]
    means = [b.mean(dim=(0, 2, 3)) for b in batches]
    for t, b in enumerate(batches, 1):
        bn(b)
        if t <= 10:  # the plain average of the batch means seen so far
            torch.testing.assert_close(bn.running_mean, torch.stack(means[:t]).mean(0))
    ref = torch.stack(means[:10]).mean(0)
    for m in means[10:]:  # then exponential, momentum 0.1
        ref = 0.9 * ref + 0.1 * m
    torch.testing.assert_close(bn.running_mean, ref)


def _conv(channels, groups=1, stride=1):
    return {"type": "conv2d", "channels": channels, "kernel": 3, "stride": stride, "padding": 1,
            "groups": groups}


# small nets covering every fold: grouped convs and pools on counts (CFSE-like), a conv block
# read by a dense layer (flattened counts), batch norm then layer norm on dense and conv blocks
SIM_NETS = {
    "cfse-like": ([1, 12, 12], [_conv(20), {"type": "batchnorm"}, _conv(40, groups=10),
                                {"type": "pool", "size": 2}, {"type": "batchnorm"},
                                _conv(20, stride=2), {"type": "batchnorm"}]),
    "rgb-pool3": ([3, 9, 9], [_conv(10), {"type": "pool", "size": 3}, {"type": "batchnorm"},
                              _conv(20, groups=5), {"type": "batchnorm"}]),
    "mlp-bn-ln": ([1, 6, 6], [{"type": "dense", "units": 30}, {"type": "batchnorm"},
                              {"type": "layernorm"}, {"type": "dense", "units": 20},
                              {"type": "layernorm"}, {"type": "dense", "units": 10}]),
    "conv-ln-dense": ([2, 6, 6], [_conv(10), {"type": "batchnorm"}, {"type": "layernorm"},
                                  {"type": "dense", "units": 20}, {"type": "batchnorm"}]),
}


@pytest.mark.parametrize("name", list(SIM_NETS))
def test_simulated_net_equals_plain_torch_with_the_same_samples(name, monkeypatch):
    """Every block's linear output, goodness tensor and the logits equal the unfolded torch
    math of the architecture, given the same p-bit samples. (The batch norm before the tiles,
    fused into the sampler, is checked against torch's in test_fused_norm_tiles.)"""
    shape, layers = SIM_NETS[name]
    arch = arch_from_mapping({"name": name, "input": shape, "classes": 10, "layers": layers})
    torch.manual_seed(3)
    net = Net(arch, tiles=7, seed=11)
    x = torch.randn(3, *shape)
    seen = {}
    tiles_fn = models_module.normalized_tiles

    def spy(norm, act, z, seed=None):  # each block's linear output and its samples
        out = tiles_fn(norm, act, z, seed)
        seen[len(seen)] = (z, out[1])
        return out
    monkeypatch.setattr(models_module, "normalized_tiles", spy)
    ys, logits = net(x, (0, 0))
    with torch.no_grad():
        prev = x
        for i, block in enumerate(arch.blocks):
            lin, w = block.linear, net.linears[i].weight
            if lin.type == "conv2d":
                z = F.conv2d(prev, w, net.linears[i].bias, lin.stride, lin.padding,
                             groups=lin.groups)
            else:
                w = w if i > 0 else w.t()  # BSNLinear stores [K, N], nn.Linear [N, K]
                z = prev.flatten(1) @ w + net.linears[i].bias
            z_sim, s_u8 = seen[i]
            torch.testing.assert_close(z_sim, z, rtol=1e-4, atol=1e-4)
            y = s_u8.float()
            for layer, mod in zip(block.post, net.norms[i]):
                if layer.type == "pool":
                    y = F.max_pool2d(y, layer.size)
                elif layer.type == "batchnorm":
                    y = F.batch_norm(y, None, None, mod.weight, mod.bias, True, 0.0, 1e-4)
                else:
                    y = y / y.flatten(1).pow(2).mean(1).sqrt().reshape(-1, *[1] * (y.dim() - 1))
            torch.testing.assert_close(ys[i], y, rtol=1e-4, atol=1e-4)
            prev = y
        ref_logits = prev.flatten(1) @ net.head.weight + net.head.bias
        torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4)
    # the weights learn through the folded layers as through the unfolded math
    ys, logits = net(x, (0, 1))
    (logits.sum() + sum(y.pow(2).sum() for y in ys)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in net.linears[-1].parameters())


def test_quantized_real_conv_weight_gradient_is_adds():
    conv = CountedConv2d(1, 4, 3, 1, 1, grad_quant="ternary")
    x = torch.randn(2, 1, 6, 6)
    with counting() as c:
        out = QuantizeGrad("ternary")(conv(x))
        fwd = c.copy()
        out.sum().backward()
    back = c.as_dict()
    macs = fwd["mul:fp32"]
    # ternary errors: the image values are added or subtracted, then one multiply per weight
    assert back["mul:fp32"] - macs == conv.weight.numel() + out.numel()  # + the quantizer's
    assert back["grad_read:u2"] == macs and back["grad_write:u2"] == out.numel()


def test_estimator_preactivation_scale_is_the_trainers():
    """The analytic tile model assumes the scale BSFF normalises its preactivations to."""
    from pbitsim.network.tiles import PREACT_STD
    from pbitsim.training.models import PRE_SCALE
    assert PREACT_STD == PRE_SCALE
