"""Layer kinds as classes: each owns its TOML keys, its shapes and (after the activation) its
counts; architecture files keep their format."""

import pickle

import pytest

from pbitsim.network import costs
from pbitsim.network.archs import (LAYER_KINDS, ArchError, BatchNorm, Conv2d, Dense, LayerNorm,
                                   Pool, arch_from_mapping, list_archs, load_arch)


def _net(layers, **top):
    return arch_from_mapping({"name": "t", "input": [2, 8, 8], "classes": 2, "layers": layers,
                              **top})


def test_kinds_by_their_file_names():
    assert {k: c for k, c in LAYER_KINDS.items()} == {
        "dense": Dense, "conv2d": Conv2d, "pool": Pool, "batchnorm": BatchNorm,
        "layernorm": LayerNorm}
    assert [c.is_linear for c in LAYER_KINDS.values()] == [True, True, False, False, False]
    assert [c.is_norm for c in LAYER_KINDS.values()] == [False, False, False, True, True]


def test_a_file_resolves_to_kind_objects_with_their_shapes():
    net = _net([{"type": "conv2d", "channels": 4, "padding": 1}, {"type": "pool"},
                {"type": "batchnorm"}, {"type": "layernorm"}, {"type": "dense", "units": 6}])
    (b1, b2) = net.blocks
    assert isinstance(b1.linear, Conv2d) and b1.linear.type == "conv2d"
    assert [type(l) for l in b1.post] == [Pool, BatchNorm, LayerNorm]
    assert [l.name for l in b1.post] == ["pool1", "batchnorm1", "layernorm1"]
    assert b1.linear.name == "conv1" and b1.linear.out_shape == (4, 8, 8)
    assert b1.post[0].out_shape == (4, 4, 4) and b1.post[0].window == 4
    assert b1.linear.window == 1 and b1.post[1].window == 1
    assert isinstance(b2.linear, Dense) and b2.linear.n_in == 64 and b2.linear.weights == 384
    assert net.head == Dense.of("head", 6, 2) and net.head.params == 14
    assert b1.post[1].affine_params == 8 and b1.post[2].affine_params == 0
    assert b1.linear.describe() == "conv 3x3/1 -> 4x8x8" and b1.post[1].describe() == "batchnorm"
    assert net.ff_variant == "cwc"  # a conv layer makes it CwC
    with pytest.raises(ArchError, match="unknown key 'units' for a pool layer"):
        _net([{"type": "conv2d", "channels": 4}, {"type": "pool", "units": 3}])
    with pytest.raises(ArchError, match=r"layers\[0\]\.type must be one of dense, conv2d"):
        _net([{"type": ["dense"]}])


def test_post_layers_own_their_counts():
    pool, bn, ln = _net([{"type": "conv2d", "channels": 4, "padding": 1}, {"type": "pool"},
                         {"type": "batchnorm"}, {"type": "layernorm"}]).blocks[0].post
    b = 3
    assert pool.forward_counts(b, train=True, dtype="u3") == costs.maxpool(b * 64, 4, "u3", True)
    assert pool.backward_counts(b, dtype="u3", saved="stash") == costs.maxpool_backward(
        b * 64, b * 256, 4, "fp32", "stash")
    assert bn.forward_counts(b, train=False, batch_stats=True, dtype="u3") == costs.batchnorm(
        b * 64, 4, "u3")
    assert bn.forward_counts(b, train=False) == costs.batchnorm_eval(b * 64, 4)
    assert bn.backward_counts(b, dtype="u3") == costs.batchnorm_backward(b * 64, 4, "act", "u3")
    assert ln.forward_counts(b, train=True) == costs.rms_norm(b * 64, b)
    assert ln.backward_counts(b) == costs.rms_norm_backward(b * 64, b)
    with pytest.raises(NotImplementedError):
        Dense.of("d", 2, 2).forward_counts(b, train=True)


@pytest.mark.parametrize("name", list_archs())
def test_built_in_nets_pickle_as_their_kinds(name):
    net = load_arch(name)
    again = pickle.loads(pickle.dumps(net))  # a sweep's worker process receives them
    assert again == net and [type(l) for l in again.layers] == [type(l) for l in net.layers]
