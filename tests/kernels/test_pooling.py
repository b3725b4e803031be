"""Max pooling of tile counts: the same values, window choices and gradients as torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pbitsim.network import costs
from pbitsim import counting
from pbitsim.bridge.modules import max_pool_counts as bridge_pool
from pbitsim.kernels import max_pool_counts, max_pool_counts_backward


def _counts(shape, tiles, seed):
    # few levels, so windows often hold tied maxima (the case torch's tie-breaking decides)
    return np.random.default_rng(seed).integers(0, tiles + 1, size=shape).astype(np.uint8)


@pytest.mark.parametrize("shape,size,tiles", [((3, 5, 8, 8), 2, 1), ((2, 4, 9, 7), 2, 7),
                                              ((2, 3, 10, 11), 3, 3), ((1, 2, 4, 4), 1, 7),
                                              ((6, 5), 2, 2)])
def test_values_and_window_positions_match_torch(shape, size, tiles):
    x = _counts(shape, tiles, size * 100 + tiles)
    out, out_f, arg = max_pool_counts(x, size)
    xt = torch.from_numpy(x.astype(np.float32)).reshape((-1, 1) + shape[-2:])
    ref, idx = F.max_pool2d_with_indices(xt, size)
    ref = ref.reshape(out.shape)
    assert out.dtype == np.uint8 and out_f.dtype == np.float32 and arg.dtype == np.uint8
    np.testing.assert_array_equal(out, ref.numpy().astype(np.uint8))
    np.testing.assert_array_equal(out_f, ref.numpy())
    # torch's flat index in the input plane, from our window position
    ho, wo = out.shape[-2:]
    i = np.arange(ho).reshape(-1, 1) * size + arg // size
    j = np.arange(wo).reshape(1, -1) * size + arg % size
    np.testing.assert_array_equal(i * shape[-1] + j, idx.reshape(out.shape).numpy())


@pytest.mark.parametrize("shape,size", [((2, 4, 9, 7), 2), ((2, 3, 10, 11), 3)])
def test_backward_is_torch_autograd_bit_for_bit(shape, size):
    x = _counts(shape, 2, 7)
    g = torch.from_numpy(np.random.default_rng(8).standard_normal(
        shape[:2] + (shape[2] // size, shape[3] // size)).astype(np.float32))
    g[0, 0, 0, 0] = -0.0  # a signed zero routes as torch's 0 + g does
    s = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    F.max_pool2d(s, size).backward(g)
    _, _, arg = max_pool_counts(x, size)
    gi = max_pool_counts_backward(g.numpy(), arg, size, shape[-2:])
    assert np.array_equal(gi.view(np.uint32), s.grad.numpy().view(np.uint32))


def test_bridge_pool_equals_torch_and_counts_as_before():
    x = _counts((4, 6, 8, 8), 7, 3)
    s1 = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    s2 = s1.detach().clone().requires_grad_(True)
    with counting() as c:
        p, p_u8 = bridge_pool(s1, 7, 2, counts=torch.from_numpy(x))
        (p * torch.arange(p.numel()).reshape(p.shape)).sum().backward()
    ref = F.max_pool2d(s2, 2)
    (ref * torch.arange(ref.numel()).reshape(ref.shape)).sum().backward()
    assert torch.equal(p, ref) and torch.equal(p_u8, ref.to(torch.uint8))
    assert torch.equal(s1.grad, s2.grad)
    n_out, n_in = ref.numel(), s2.numel()
    expect = costs.maxpool(n_out, 4, "u3", train=True).merge(costs.maxpool_backward(n_out, n_in, 4))
    assert c.as_dict() == {k: round(v) for k, v in expect.items()}
    with pytest.raises(ValueError, match="integer tile counts"):
        bridge_pool(s1.detach() + 0.5, 7, 2)


@pytest.mark.parametrize("call,match", [
    (lambda: max_pool_counts(np.zeros((2, 2), np.float32), 2), "dtype uint8"),
    (lambda: max_pool_counts(np.zeros((1, 1), np.uint8), 2), "larger than"),
    (lambda: max_pool_counts(np.zeros((4, 4), np.uint8), 0), "positive integer"),
    (lambda: max_pool_counts_backward(np.zeros((2, 2), np.float32), np.full((2, 2), 4, np.uint8),
                                      2, (4, 4)), "beyond"),
    (lambda: max_pool_counts_backward(np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8),
                                      2, (6, 4)), "not 2x2"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


_THREAD_SCRIPT = """
import hashlib, numpy as np
from pbitsim.kernels import *
r = np.random.default_rng(5)
x = r.integers(0, 8, (6, 40, 14, 14)).astype(np.uint8)
p, pf, arg = max_pool_counts(x, 2)
gi = max_pool_counts_backward(r.standard_normal(p.shape).astype(np.float32), arg, 2, (14, 14))
z = (r.standard_normal((6, 40, 14, 14)) * 3).astype(np.float32)
mean, var = channel_moments(z)
a = (1 / np.sqrt(var + 1e-4)).astype(np.float32)
slope = np.empty_like(z)
s = tiled_logistic(z, 7, 3, slope=slope, channel_affine=(a, (-mean * a).astype(np.float32)))
back = norm_tiles_backward(r.standard_normal(z.shape).astype(np.float32), slope, z, mean,
                           1 / np.sqrt(var + 1e-4), np.full(40, 3, np.float32))
parts = [p, pf, arg, gi, mean, var, s, slope, *back]
print(hashlib.sha256(b"".join(q.tobytes() for q in parts)).hexdigest())
"""


def test_pool_and_norm_kernels_identical_on_one_and_two_threads(digests_on_threads):
    assert len(digests_on_threads(_THREAD_SCRIPT)) == 1
