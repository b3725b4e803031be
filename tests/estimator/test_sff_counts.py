"""Scalable FF's estimator: hand-worked counts on a tiny net, the built-in nets, the tiled form
and one-line errors (the arch schema's pre_norm / goodness_kernel, the rule on the wrong arch)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pbitsim.network.arch_rules import arch_rule
from pbitsim.cli.main import cli
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.network.archs import ArchError, arch_from_mapping, load_arch

# 1x3x3 input, 2 classes; block 1: conv 3x3 pad 1 -> 2 channels; block 2: conv 1x1 -> 2
# channels; both conv -> batch norm -> ReLU -> layer norm, each with a 1x1 goodness conv
TINY = {"name": "tiny-sff", "input": [1, 3, 3], "classes": 2, "pre_norm": True,
        "goodness_kernel": 1,
        "layers": [{"type": "conv2d", "channels": 2, "kernel": 3, "padding": 1},
                   {"type": "layernorm"},
                   {"type": "conv2d", "channels": 2, "kernel": 1},
                   {"type": "layernorm"}]}
B = 2


def _phase(rows, phase, key):
    return sum(r.phases[phase].get(key, 0.0) for r in rows)


def test_tiny_net_counts_by_hand():
    net = arch_from_mapping(TINY)
    sff = get_algorithm("sff")
    rows = sff.training_step(net, ModelParams(batch_size=B))
    # conv1: 2 channels x (2 + 3 + 2)^2 in-image taps = 98 MACs; goodness conv 1: 2 classes x
    # 2 channels x 9 positions = 36; conv2 (1x1): 2 x 2 x 9 = 36; goodness conv 2: 36
    assert _phase(rows, "weight_grad", "mul:fp32") == B * (98 + 36 + 36 + 36)
    # ReLU masks: 2 x 9 units per block
    assert _phase(rows, "forward", "act_write:u1") == B * (18 + 18)
    # backward weight fetches: only the goodness convs' input gradients (each block's input is
    # detached: no conv input gradient, nothing crosses blocks)
    assert _phase(rows, "backward", "weight_read:fp32") == B * (36 + 36)
    # backward multiplies per block and sample: goodness 18 (2 classes x 9), goodness conv
    # input gradient 36, layer norm 3 x 18 + 1, batch norm 4 x 18
    assert _phase(rows, "backward", "mul:fp32") == B * 2 * (18 + 36 + 55 + 72)
    # AdamW (Adam's 10 multiplies + the decay's 1) over block 1: conv 18 + 2, batch norm 4,
    # goodness conv 4 + 2 = 30; block 2: conv 4 + 2, batch norm 4, goodness conv 6 = 16
    assert _phase(rows, "update", "mul:fp32") == 11 * (30 + 16)
    assert sff.params_count(net) == 46
    # one softmax CE per block over the 2 class goodnesses
    assert _phase(rows, "loss", "act_read:fp32") == 2 * B * 2
    # inference: ReLU compares 36, the two goodness vectors summed (2 adds), two argmaxes
    inf = sff.inference_step(net, ModelParams(batch_size=B))
    assert _phase(inf, "forward", "cmp:fp32") == B * 36 + 2 * B * (2 - 1)
    assert _phase(inf, "forward", "act_write:u1") == 0


def test_tiled_form_indexes_counts_after_the_first_conv():
    """bssff: only conv1 multiplies; conv2 and both goodness convs add tile-count rows."""
    net = arch_from_mapping(TINY)
    real = get_algorithm("sff").training_step(net, ModelParams(batch_size=B))
    tiled = get_algorithm("bssff").training_step(net, ModelParams(batch_size=B, tiles=7))
    # forward multiplies: the real net's conv2 and goodness convs (3 x 36 MACs) are gone; the
    # index layers behind a layer norm multiply each output by the sample's factor instead
    # (3 x 18 outputs), and the factor itself is one scalar function (4 multiplies) per block
    diff = _phase(real, "forward", "mul:fp32") - _phase(tiled, "forward", "mul:fp32")
    assert diff == B * (3 * 36 - 3 * 18 - 2 * 4)
    # the tile counts (u3 for M = 7) are read once by each index layer: conv2, both goodness
    assert _phase(tiled, "forward", "act_read:u3") == B * (18 + 18 + 18)
    assert _phase(tiled, "forward", "pbit_sample") == B * 7 * (18 + 18)
    assert _phase(real, "forward", "pbit_sample") == 0


def test_builtin_nets():
    for name, shapes in (("sff-cnn-mnist", [(64, 14, 14), (128, 7, 7), (256, 3, 3)]),
                         ("sff-cnn-cifar10", [(64, 16, 16), (128, 8, 8), (256, 4, 4)])):
        net = load_arch(name)
        assert [b.out_shape for b in net.blocks] == shapes
        assert net.pre_norm and net.goodness_kernel == 1
        g = [net.goodness_conv(b) for b in net.blocks]
        assert [c.out_shape[0] for c in g] == [10, 10, 10]
        assert all(arch_rule(a, net) is None for a in ("sff", "bssff", "bp"))
    # parameters: convs + biases, pre-activation batch norms, goodness convs (no head)
    c10 = load_arch("sff-cnn-cifar10")
    convs = (3 * 9 * 64 + 64) + (64 * 9 * 128 + 128) + (128 * 9 * 256 + 256)
    assert get_algorithm("sff").params_count(c10) == (convs + 2 * (64 + 128 + 256)
                                                      + 10 * (64 + 128 + 256) + 3 * 10)


@pytest.mark.parametrize("change, msg", [
    ({"pre_norm": 1}, "'pre_norm' must be true or false"),
    ({"goodness_kernel": 2}, "must be odd"),
    ({"goodness_kernel": -1}, "non-negative integer"),
    ({"layers": [{"type": "dense", "units": 4}]}, "ends in a vector"),
])
def test_arch_schema_errors(change, msg):
    with pytest.raises(ArchError, match=msg):
        arch_from_mapping({**TINY, **change})


def test_rule_refusals():
    net = arch_from_mapping(TINY)
    assert "pre_norm" in arch_rule("cwc", net)
    assert "pre_norm" in arch_rule("ff", net)
    # bp and the tiled rules model a norm before the activation: the same net is theirs
    assert [arch_rule(a, net) for a in ("bsff", "bgbsff", "bp")] == [None, None, None]
    assert "goodness conv" in arch_rule("sff", load_arch("cfse-cifar10"))
    no_pre = arch_from_mapping({**TINY, "pre_norm": False})
    assert "pre_norm" in arch_rule("sff", no_pre) and arch_rule("bssff", no_pre) is None


@pytest.mark.parametrize("args, msg", [
    (["estimate", "--algo", "sff", "--arch", "cfse-mnist"], "declares no goodness conv"),
    (["estimate", "--algo", "cwc", "--arch", "sff-cnn-mnist"], "not divisible"),
    (["train", "--algo", "sff", "--arch", "cfse-mnist"], "declares no goodness conv"),
    (["train", "--algo", "sff", "--arch", "sff-cnn-mnist", "--schedule", "greedy"],
     "minibatch"),
    (["train", "--algo", "sff", "--tiles", "0", "--arch", "sff-cnn-mnist"], "--tiles"),
    (["train", "--algo", "sff", "--arch", "sff-cnn-cifar10"], "3x32x32"),
])
def test_bad_input_is_one_line_exit_2(args, msg, tmp_path):
    if args[0] == "train":  # refused before any data is looked for
        args = [*args, "--data-dir", str(tmp_path / "none"), "--out", str(tmp_path / "out")]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and msg in lines[0]


def test_estimate_with_tiles_prices_the_tiled_form():
    r = CliRunner().invoke(cli, ["estimate", "--arch", "sff-cnn-mnist", "--algo", "sff",
                                 "--tiles", "5", "--json", "-"])
    assert r.exit_code == 0, r.output
    import json
    doc = json.loads(r.output)
    assert list(doc["algorithms"]) == ["bssff"] and doc["tiles"] == 5
