"""Built-in and user architectures: shapes, parameter counts, errors."""

from pathlib import Path

from pbitsim.rulebook import rule
import pytest

from pbitsim.network.archs import ArchError, list_archs, load_arch
from pbitsim.network.archs import DEFAULT_ARCH, arch_from_mapping, default_arch, valid_taps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "archs"


def test_builtin_names():
    assert set(list_archs()) >= {"cfse-mnist", "cfse-cifar10", "cwc-mnist", "cwc-cifar10",
                                 "ff-mlp-4x2000", "ff-mlp-4x2000-cifar10", "mf-mlp-2x1000",
                                 "mf-mlp-3x2000"}


def test_defaults():
    assert DEFAULT_ARCH == "cfse-cifar10"
    assert default_arch((1, 28, 28), rule("bsff").net) == default_arch((1, 28, 28), rule("bp").net) == "cfse-mnist"
    assert default_arch((3, 32, 32), rule("cwc").net) == "cfse-cifar10"
    assert default_arch((1, 28, 28), rule("ff").net) == "ff-mlp-4x2000"
    assert load_arch(default_arch((3, 32, 32), rule("ff").net)).input_shape == (3, 32, 32)
    with pytest.raises(ArchError, match="no built-in network for 2x5x5 inputs"):
        default_arch((2, 5, 5), rule("cwc").net)


@pytest.mark.parametrize("name, side, samples", [("cfse-cifar10", 32, 45000),
                                                 ("cfse-mnist", 28, 60000)])
def test_cfse_nets(name, side, samples):
    """The CwC-FF reference's CFSE net: convs 2 and 4 grouped (10), pooled after them."""
    arch = load_arch(name)
    assert arch.ff_variant == "cwc" and arch.train_samples == samples
    assert [b.linear.channels_out for b in arch.blocks] == [20, 80, 240, 480]
    assert [b.linear.groups for b in arch.blocks] == [1, 10, 1, 10]
    assert [[l.type for l in b.post] for b in arch.blocks] == [
        ["batchnorm"], ["pool", "batchnorm"], ["batchnorm"], ["pool", "batchnorm"]]
    assert [b.out_shape[1] for b in arch.blocks] == [side, side // 2, side // 2, side // 4]
    features = 480 * (side // 4) ** 2
    assert arch.head.in_shape == (features,)
    c_in = arch.input_shape[0]
    # a grouped conv's output channel reads C_in / 10 input channels
    weights = 9 * (c_in * 20 + 80 * 2 + 240 * 80 + 480 * 24) + features * 10
    assert arch.params == weights + 20 + 80 + 240 + 480 + 10
    conv2 = arch.blocks[1].linear
    assert conv2.taps == 80 * 2 * valid_taps(side, 3, 1, 1) ** 2
    assert conv2.describe() == f"conv 3x3/1 groups 10 -> 80x{side}x{side}"


@pytest.mark.parametrize("name, side, features, samples", [
    ("cwc-cifar10", 32, 480 * 8 * 8, 45000), ("cwc-mnist", 28, 480 * 7 * 7, 60000)])
def test_cwc_nets(name, side, features, samples):
    arch = load_arch(name)
    assert arch.ff_variant == "cwc" and arch.train_samples == samples
    assert [b.linear.channels_out for b in arch.blocks] == [20, 80, 240, 480]
    assert [[l.type for l in b.post] for b in arch.blocks] == [
        ["pool", "batchnorm"], ["batchnorm"], ["pool", "batchnorm"], ["batchnorm"]]
    assert arch.blocks[0].linear.out_shape == (20, side, side)
    assert arch.head.in_shape == (features,) and arch.head.out_shape == (10,)
    c_in = arch.input_shape[0]
    weights = 9 * (c_in * 20 + 20 * 80 + 80 * 240 + 240 * 480) + features * 10
    biases = 20 + 80 + 240 + 480 + 10
    assert arch.params == weights + biases


def test_mlps():
    ff = load_arch("ff-mlp-4x2000")
    assert ff.ff_variant == "hinton"
    assert [b.linear.out_shape for b in ff.blocks] == [(2000,)] * 4
    assert ff.blocks[0].linear.taps == 784 * 2000
    assert [b.linear.out_shape[0] for b in load_arch("mf-mlp-3x2000").blocks] == [2000] * 3
    assert load_arch("mf-mlp-3x2000").blocks[0].linear.in_shape == (3072,)
    assert len(load_arch("mf-mlp-2x1000").blocks) == 2


def test_valid_taps():
    assert valid_taps(4, 3, 1, 1) == 10
    assert valid_taps(5, 3, 1, 0) == 9
    assert valid_taps(5, 3, 2, 1) == 2 + 3 + 2
    assert valid_taps(1, 3, 1, 1) == 1


def test_examples_load():
    files = sorted(EXAMPLES.glob("*.toml"))
    assert files
    for path in files:
        arch = load_arch(path)
        assert arch.blocks and arch.head.out_shape == (arch.classes,)
    mlp = load_arch(EXAMPLES / "my-mlp.toml")
    assert mlp.name == "my-mlp" and mlp.params == 784 * 300 + 300 + 300 * 100 + 100 + 1010


BASE = {"name": "x", "input": [1, 8, 8], "classes": 10,
        "layers": [{"type": "conv2d", "channels": 4, "kernel": 3}]}


@pytest.mark.parametrize("change, message", [
    ({"layers": [{"type": "attention"}]}, r"layers\[0\]\.type"),
    ({"layers": [{"type": "dense"}]}, "lacks 'units'"),
    ({"layers": [{"type": "dense", "units": 0}]}, r"units must be a positive"),
    ({"layers": [{"type": "pool", "size": 2}]}, "first layer must be dense or conv2d"),
    ({"layers": [{"type": "conv2d", "channels": 4, "kernel": 9}]}, "does not fit"),
    ({"layers": [{"type": "dense", "units": 5}, {"type": "pool", "size": 2}]}, "pool needs"),
    ({"layers": [{"type": "dense", "units": 5}, {"type": "conv2d", "channels": 2}]},
     "conv2d needs"),
    ({"layers": [{"type": "dense", "units": 5, "channels": 3}]}, "unknown key 'channels'"),
    ({"input": [28, 28]}, "'input'"),
    ({"classes": 1}, "'classes'"),
    ({"ff_variant": "both"}, "ff_variant"),
    ({"layers": []}, "at least one"),
    ({"depth": 3}, "unknown key 'depth'"),
    ({"layers": [{"type": "conv2d", "channels": 4, "groups": 3}]},
     r"layers\[0\] \(conv1\): groups = 3 must divide the 1 input and 4 output channels"),
    ({"input": [6, 8, 8], "layers": [{"type": "conv2d", "channels": 4, "groups": 3}]},
     "groups = 3 must divide the 6 input and 4 output"),
    ({"layers": [{"type": "conv2d", "channels": 4, "groups": 0}]}, "groups must be a positive"),
])
def test_errors(change, message):
    with pytest.raises(ArchError, match=message):
        arch_from_mapping({**BASE, **change})


def test_unknown_and_unreadable(tmp_path):
    with pytest.raises(ArchError, match="unknown architecture 'resnet'"):
        load_arch("resnet")
    with pytest.raises(ArchError, match="cannot read"):
        load_arch(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(ArchError, match="not valid TOML"):
        load_arch(bad)
