"""The analytic BSFF counts equal what the Numba kernels count on the same inputs.

The model's per-sample count at density d = mean(x)/M and nonzero fraction
q = P(x > 0) -- both measured on the x fed to the kernel -- times the batch size must
equal the kernel's counter exactly. Conv layers are checked with a constant input, for
which every tap sees the same count (random inputs weigh border pixels differently).
"""

import numpy as np
import pytest

from pbitsim import OpCounter, kernels
from pbitsim.network.counters import uint_dtype
from pbitsim.network import ops
from pbitsim.network.archs import arch_from_mapping
from pbitsim.network.tiles import TileStats


def dense_layer(k, n):
    return arch_from_mapping({"name": "d", "input": [1, 1, k], "classes": 2,
                              "layers": [{"type": "dense", "units": n}]}).blocks[0].linear


def conv_layer(c, h, o, kernel, stride, padding):
    return arch_from_mapping({"name": "c", "input": [c, h, h], "classes": 2, "layers": [
        {"type": "conv2d", "channels": o, "kernel": kernel, "stride": stride,
         "padding": padding}]}).blocks[0].linear


def measured_stats(x, tiles):
    return TileStats(tiles, float(x.mean()) / tiles, float(np.count_nonzero(x)) / x.size)


def assert_counts_equal(counter, model, batch):
    expected = {k: v * batch for k, v in model.items()}
    assert set(counter.as_dict()) == set(expected)
    for key, value in counter.items():
        assert value == pytest.approx(expected[key], rel=1e-12), key


@pytest.mark.parametrize("tiles, density", [(1, 0.15), (3, 0.3), (7, 0.15)])
def test_dense_forward_and_weight_grad(tiles, density):
    rng = np.random.default_rng(tiles)
    batch, k, n = 16, 40, 12
    # Tile counts drawn from independent tiles at the density: any x would do, since
    # the statistics are measured on it.
    x = (rng.random((batch, k, tiles)) < density).sum(axis=2).astype(np.uint8)
    w = rng.standard_normal((k, n)).astype(np.float32)
    layer, stats = dense_layer(k, n), measured_stats(x, tiles)

    counter = OpCounter()
    kernels.index_matmul(x, w, counter, tiles=tiles)
    assert_counts_equal(counter, ops.index_product(layer, stats), batch)

    counter = OpCounter()
    g = rng.standard_normal((batch, n)).astype(np.float32)
    kernels.index_matmul_xt(x, g, counter, tiles=tiles)
    assert_counts_equal(counter, ops.index_weight_grad_product(layer, stats, batch), batch)


@pytest.mark.parametrize("value, tiles, stride, padding", [(1, 1, 1, 1), (3, 7, 2, 1),
                                                           (2, 3, 1, 0)])
def test_conv_forward_and_weight_grad(value, tiles, stride, padding):
    batch, c, h, o, kernel = 2, 3, 6, 4, 3
    x = np.full((batch, c, h, h), value, np.uint8)
    w = np.ones((o, c, kernel, kernel), np.float32)
    layer = conv_layer(c, h, o, kernel, stride, padding)
    stats = TileStats(tiles, value / tiles, 1.0)

    counter = OpCounter()
    y = kernels.index_conv2d(x, w, stride, padding, counter, tiles=tiles)
    assert y.shape[1:] == layer.out_shape
    assert_counts_equal(counter, ops.index_product(layer, stats), batch)

    counter = OpCounter()
    g = np.ones(y.shape, np.float32)
    kernels.index_conv2d_weight_grad(x, g, kernel, stride, padding, counter, tiles=tiles)
    assert_counts_equal(counter, ops.index_weight_grad_product(layer, stats, batch), batch)


@pytest.mark.parametrize("tiles", [1, 7])
def test_tiled_units(tiles):
    batch, n = 5, 9
    z = np.random.default_rng(0).standard_normal((batch, n)).astype(np.float32)
    counter = OpCounter()
    kernels.tiled_logistic(z, tiles, 1, counter)
    assert_counts_equal(counter, ops.tiled(n, tiles), batch)
    assert uint_dtype(tiles) in {k.split(":")[-1] for k in counter}
