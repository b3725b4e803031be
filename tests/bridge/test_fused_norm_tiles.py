"""BSFF's batch norm before the tiles, fused into the sampler: same samples, gradients, counts.

The fused path (``normalized_tiles``: one statistics pass, the p-bits apply the normalisation as
they read z, one backward kernel) against the two modules it replaces (``FoldableBatchNorm2d``
then ``TiledLogistic``, torch's batch norm), and its kernels against float64 numpy.
"""

import numpy as np
import pytest
import torch

from pbitsim import counting
from pbitsim import kernels as K
from pbitsim.bridge.counted import counted_bn_backward
from pbitsim.bridge.modules import FoldableBatchNorm2d, TiledLogistic, normalized_tiles


def _step(fused, z0, g, *, steps=2, device=None, estimator="mean-field"):
    torch.manual_seed(1)
    bn = FoldableBatchNorm2d(z0.shape[1], eps=1e-4)
    with torch.no_grad():
        bn.weight.fill_(3.0)
        bn.bias.copy_(torch.linspace(-1.0, 2.0, z0.shape[1]))
    act = TiledLogistic(7, estimator, device=device)
    out = []
    with counting() as c:
        for k in range(steps):  # two steps: the running statistics' momentum schedule too
            z = (z0 * (1 + k)).clone().requires_grad_(True)
            if fused:
                s, s_u8 = normalized_tiles(bn, act, z, seed=5 + k)
            else:
                s, s_u8 = act(counted_bn_backward(bn(z)[0]), seed=5 + k)
            (s * g).sum().backward()
            out.append((s_u8, s.detach(), z.grad))
    return out, bn, c.as_dict()


@pytest.mark.parametrize("shape", [(16, 6, 9, 9), (5, 3, 1, 7)])
def test_fused_equals_the_two_modules(shape):
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(shape, generator=gen) * 2 + 0.7
    g = torch.randn(shape, generator=gen)
    (fa, bn_a, ca), (fb, bn_b, cb) = _step(True, z0, g), _step(False, z0, g)
    assert ca == cb  # identical counts, key by key
    for (u_a, s_a, gz_a), (u_b, s_b, gz_b) in zip(fa, fb):
        # the normalised inputs differ by float rounding only: a p-bit may flip at a threshold
        assert (u_a != u_b).float().mean() <= 1e-3
        assert torch.equal(s_a, u_a.to(torch.float32))
        torch.testing.assert_close(gz_a, gz_b, rtol=1e-4, atol=1e-5 * gz_b.abs().max().item())
    for name in ("weight", "bias"):
        ga, gb = getattr(bn_a, name).grad, getattr(bn_b, name).grad
        torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5 * gb.abs().max().item())
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(bn_a, name), getattr(bn_b, name), rtol=1e-5, atol=1e-6)


def test_unfusable_cases_run_the_modules():
    gen = torch.Generator().manual_seed(3)
    z0, g = torch.randn(4, 2, 5, 5, generator=gen), torch.randn(4, 2, 5, 5, generator=gen)
    for kw in (dict(estimator="straight-through"), dict(device="smtj")):
        (fa, _, ca), (fb, _, cb) = _step(True, z0, g, steps=1, **kw), _step(False, z0, g, steps=1,
                                                                            **kw)
        assert ca == cb and torch.equal(fa[0][0], fb[0][0]) and torch.equal(fa[0][2], fb[0][2])


def test_sampler_affine_is_sampling_the_transformed_array():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((3, 4, 5, 7)).astype(np.float32) * 3
    scale = rng.uniform(0.5, 2, 4).astype(np.float32)
    shift = rng.uniform(-1, 3, 4).astype(np.float32)
    zn = z * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)  # float32 mul, then add
    sl_a, sl_b = np.empty_like(z), np.empty_like(z)
    a = K.tiled_logistic(z, 7, 9, slope=sl_a, channel_affine=(scale, shift))
    b = K.tiled_logistic(zn, 7, 9, slope=sl_b)
    assert np.array_equal(a, b) and np.array_equal(sl_a, sl_b)
    with pytest.raises(ValueError, match="channel_affine"):
        K.tiled_logistic(z, 7, 9, channel_affine=(scale[:3], shift[:3]))


def test_norm_kernels_equal_float64_numpy():
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((8, 5, 6, 6)) * 4 + 10).astype(np.float32)
    mean, var = K.channel_moments(z)
    z64 = z.astype(np.float64)
    # float32 sums within a plane: float32 rounding, as torch's batch norm
    np.testing.assert_allclose(mean, z64.mean((0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(var, z64.var((0, 2, 3)), rtol=1e-5)
    g = rng.standard_normal(z.shape).astype(np.float32)
    slope = rng.uniform(0, 1.5, z.shape).astype(np.float32)
    w = rng.uniform(0.5, 3, 5).astype(np.float32)
    invstd = 1 / np.sqrt(var + 1e-4)
    dz, dw, db = K.norm_tiles_backward(g, slope, z, mean, invstd, w)
    c = (1, -1, 1, 1)
    gz = (g * slope).astype(np.float64)  # the float32 product, as the unfused backward forms it
    xhat = (z64 - mean.reshape(c)) * invstd.reshape(c)
    n = z.size / z.shape[1]
    ref = (w * invstd).reshape(c) * (gz - gz.sum((0, 2, 3)).reshape(c) / n
                                     - xhat * (gz * xhat).sum((0, 2, 3)).reshape(c) / n)
    np.testing.assert_allclose(dz, ref, rtol=0, atol=2e-5 * np.abs(ref).max())
    np.testing.assert_allclose(dw, (gz * xhat).sum((0, 2, 3)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, gz.sum((0, 2, 3)), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="differ"):
        K.norm_tiles_backward(g[:2], slope, z, mean, invstd, w)
