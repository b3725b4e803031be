"""The index layers on a fixed-point datapath: both backends compute the same integers (and
saturate alike), the forward is the integer kernel's sums rescaled, counts carry the widths,
and the fp32 default never enters the fixed-point path."""

import numpy as np
import pytest
import torch

from pbitsim import counting
from pbitsim.bridge import fixed
from pbitsim.bridge.modules import BSNConv2d, BSNLinear, set_precision
from pbitsim.kernels import fixed_point as FX
from pbitsim.precision import FP32, make_precision

TILES = 7


def _conv_run(backend, prec, x, seed=0, scale=1.0):
    torch.manual_seed(seed)
    m = BSNConv2d(4, 6, 3, 1, 1, tiles_in=TILES, groups=2, backend=backend)
    with torch.no_grad():
        m.weight.mul_(scale)
    set_precision(m, prec)
    in_scale = torch.linspace(0.5, 1.5, 4)
    in_shift = torch.linspace(-0.2, 0.2, 4)
    with counting() as c:
        out = m(x, in_scale, in_shift, seed=5)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    return out.detach(), m.weight.grad.clone(), m.bias.grad.clone(), c.as_dict(), m


def _linear_run(backend, prec, x, seed=0):
    torch.manual_seed(seed)
    m = BSNLinear(x.shape[1], 5, tiles_in=TILES, backend=backend)
    set_precision(m, prec)
    with counting() as c:
        out = m(x, seed=9)
        out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    return out.detach(), m.weight.grad.clone(), m.bias.grad.clone(), c.as_dict(), m


rng = np.random.default_rng(3)
X4 = torch.from_numpy(rng.integers(0, TILES + 1, (3, 4, 6, 6)).astype(np.uint8))
X2 = torch.from_numpy(rng.integers(0, TILES + 1, (6, 40)).astype(np.uint8))


@pytest.mark.parametrize("bits", [(8, 32, 8), (8, 32, None), (8, 12, 8), (4, 8, 4)])
def test_dense_and_index_backends_compute_the_same_integers(bits):
    prec = make_precision(*bits)
    for run, x in ((_conv_run, X4), (_linear_run, X2)):
        d, i = run("dense", prec, x), run("index", prec, x)
        assert torch.equal(d[0], i[0])
        for a, b in zip(d[1:3], i[1:3]):  # fp32 gradients: equal up to float reassociation
            assert torch.equal(a, b) if bits[2] is not None else torch.allclose(a, b, atol=1e-4)
        assert d[3] == i[3]  # identical counts
        assert f"add:int{bits[1]}" in d[3] and f"weight_read:int{bits[0]}" in d[3]


def test_forward_is_the_integer_kernel_rescaled():
    prec = make_precision(8, 32)
    out, *_, m = _conv_run("dense", prec, X4)
    w_eff = m.weight.detach() * torch.linspace(0.5, 1.5, 4).reshape(2, 2).repeat_interleave(
        3, 0).reshape(6, 2, 1, 1)
    q, scale = FX.quantize(w_eff.numpy(), 8)
    acc = FX.fixed_index_conv2d(X4.numpy(), q, 32, 1, 1, word_bits=8, groups=2)
    want = torch.from_numpy(acc.astype(np.float32)) * torch.from_numpy(
        scale.astype(np.float32)).reshape(1, 6, 1, 1)
    # on top come the folded shift's bias map and the bias: the same for every sample
    rest = out - want
    assert torch.allclose(rest, rest[:1].expand_as(rest), atol=1e-5)
    assert not torch.allclose(out, want.round(), atol=1e-3)  # rescaled, not raw integers


def test_a_narrow_accumulator_saturates_on_both_backends():
    """Large weights and 8-bit sums: the result differs from the wide one, alike on both."""
    wide = _linear_run("dense", make_precision(8, 32), X2)[0]
    narrow = [_linear_run(b, make_precision(8, 8), X2)[0] for b in ("dense", "index")]
    assert torch.equal(narrow[0], narrow[1])
    assert not torch.equal(narrow[0], wide)


def test_dense_uses_float_only_when_exact():
    q = np.full((3, 3), 100)
    assert fixed._dense_ok(q, 1000, 32)           # 1e5: exact, no saturation
    assert not fixed._dense_ok(q, 1000, 16)       # saturation possible
    assert not fixed._dense_ok(q, 1 << 18, 32)    # beyond float32's exact integers


def test_fp32_default_never_enters_the_fixed_point_path(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("fixed-point path used")
    for name in ("conv_forward", "linear_forward", "quantize_error", "quantize_weight"):
        monkeypatch.setattr(fixed, name, boom)
    for backend in ("dense", "index"):
        _, _, _, counts, m = _conv_run(backend, FP32, X4)
        assert m.precision is FP32
        assert all(k.split(":")[1] in ("fp32", "u3") for k in counts if ":" in k)
        _linear_run(backend, FP32, X2)


def test_grad_bits_round_stochastically_with_the_call_seed():
    prec = make_precision(8, 32, 3)
    a = _linear_run("index", prec, X2)[1]
    b = _linear_run("index", prec, X2)[1]
    assert torch.equal(a, b)  # the same seed, the same rounding
    torch.manual_seed(0)
    m = BSNLinear(40, 5, tiles_in=TILES, backend="index")
    set_precision(m, prec)
    out = m(X2, seed=10)
    out.backward(torch.linspace(-1, 1, out.numel()).reshape(out.shape))
    assert not torch.equal(m.weight.grad, a)
