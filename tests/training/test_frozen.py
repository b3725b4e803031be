"""The frozen layers' cache: values as recomputed, the recompute's counts replayed exactly,
the fill itself uncounted, a cache too large refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pbitsim.bridge.counted import CountedLinear
from pbitsim.network.counters import OpCounter, counting
from pbitsim.training.frozen import FrozenFeatures


@pytest.fixture
def setup():
    torch.manual_seed(0)
    data = torch.randn(40, 6)
    layer = CountedLinear(6, 5)

    def images(rows):
        return data[torch.as_tensor(np.asarray(rows))]

    def frozen(x):
        return [torch.relu(layer(x)), x * 2]
    return data, layer, images, frozen


def test_values_and_counts_equal_the_recompute(setup):
    data, layer, images, frozen = setup
    rows = np.arange(3, 40, 2)  # the images the run reads, not all of the data set
    cache = FrozenFeatures(images, rows, batch=4)
    batch = np.array([17, 3, 39, 21])
    x = images(batch)
    direct = OpCounter()
    with counting(direct), torch.no_grad():
        want = frozen(x)
    outer = OpCounter()
    with counting(outer):
        got = cache.read("stage-1", frozen, [5, 6], x, batch)
    assert outer == direct  # the fill and the measurement add nothing; the replay adds one
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-6)
    with counting(outer):
        cache.read("stage-1", frozen, [5, 6], x[:2], batch[:2])
    assert outer.total("mul") == direct.total("mul") * 3 // 2  # b = 2 measured on its own


def test_a_row_it_was_not_bound_to_is_an_error(setup):
    _, _, images, frozen = setup
    cache = FrozenFeatures(images, np.arange(3, 40, 2), batch=4)
    with pytest.raises(KeyError):
        cache.read("s", frozen, [5, 6], images([4]), [4])


def test_new_stage_refills_and_too_large_is_refused(setup):
    data, layer, images, frozen = setup
    cache = FrozenFeatures(images, np.arange(40), batch=7)
    a = cache.read("s1", frozen, [5, 6], images([0, 1]), [0, 1])[0].clone()
    with torch.no_grad():
        layer.weight.mul_(2)
        layer.bias.mul_(2)
    assert torch.equal(cache.read("s1", frozen, [5, 6], images([0, 1]), [0, 1])[0], a)
    b = cache.read("s2", frozen, [5, 6], images([0, 1]), [0, 1])[0]
    assert torch.allclose(b, 2 * a, atol=1e-5)
    small = FrozenFeatures(images, np.arange(40), batch=7, max_bytes=4 * 40 * 11 - 1)
    assert small.read("s1", frozen, [5, 6], images([0]), [0]) is None
