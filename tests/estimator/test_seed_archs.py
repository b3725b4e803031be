"""The CaFo CNNs of the seeds: forward MACs as the seeds count them, and as pbitsim counts them."""

from __future__ import annotations

import pytest

from pbitsim.network.arch_rules import arch_rule
from pbitsim.estimator import estimate
from pbitsim.network.archs import load_arch


def _nominal_macs(arch) -> int:
    """k x k x C_in / groups x C_out x H_out x W_out per conv (padding zeros included), as a
    FLOP counter reports them."""
    total = 0
    for block in arch.blocks:
        lin = block.linear
        c_out, h, w = lin.out_shape
        total += lin.kernel ** 2 * (lin.in_shape[0] // lin.groups) * c_out * h * w
    return total


@pytest.mark.parametrize("name, seeds, counted, flat", [
    ("cafo-cnn-mnist", 36_352_512, 30_427_264, (6272, 6272, 4608)),
    ("cafo-cnn-cifar10", 48_070_656, 41_234_816, (8192, 8192, 8192)),
])
def test_cafo_cnn_macs(name, seeds, counted, flat):
    arch = load_arch(name)
    # the seeds' 0.07271 / 0.09614 GFLOPs per sample = 36.35 M / 48.07 M MACs
    assert _nominal_macs(arch) == seeds
    # pbitsim counts the multiplies done: a 3x3 window over a zero-padded border has fewer taps
    assert sum(b.linear.taps for b in arch.blocks) == counted
    # the flattened block outputs the three CaFo predictors read
    assert tuple(_numel(b.out_shape) for b in arch.blocks) == flat
    # BP runs on it; the CwC family cannot split 32 channels into 10 classes
    assert arch_rule("bp", arch) is None and "not divisible" in arch_rule("cwc", arch)
    bp = estimate(name, ["bp"]).get("bp").counts["inference"]
    # BP's inference multiplies: the convs, the head, and one per batch-norm output (eval)
    assert bp["mul:fp32"] == pytest.approx(counted + arch.head.taps + sum(flat))


def _numel(shape):
    n = 1
    for v in shape:
        n *= v
    return n
