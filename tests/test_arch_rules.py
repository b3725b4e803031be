"""Which algorithm trains which architecture: one line naming the layer and the rule."""

from __future__ import annotations

from pbitsim.rulebook import rule
import subprocess
import sys

import pytest

from pbitsim.network.arch_rules import arch_rule, resolve_arch, simulated_rule
from pbitsim.network.archs import load_arch
from pbitsim.network.archs import arch_from_mapping


def _arch(layers, shape=(1, 8, 8), **top):
    return arch_from_mapping({"name": "net", "input": list(shape), "classes": 10,
                              "layers": layers, **top})


CONV = {"type": "conv2d", "channels": 20, "padding": 1}
DENSE = {"type": "dense", "units": 20}


@pytest.mark.parametrize("algo, layers, top, message", [
    ("cwc", [CONV, {**CONV, "channels": 32}], {},
     "cwc on net: conv2 has 32 channels, not divisible by the 10 classes"),
    ("bgbsff", [{**DENSE, "units": 15}], {}, "dense1 has 15 units, not divisible"),
    ("bsff", [CONV, {"type": "batchnorm"}, {"type": "pool", "size": 2}], {},
     "bsff on net: pool1 pools after a normalisation in block conv1"),
    ("bsff", [DENSE, {"type": "layernorm"}, {"type": "batchnorm"}], {},
     "batchnorm1 follows a layernorm in block dense1"),
    ("bsff", [DENSE, {"type": "batchnorm"}, {"type": "batchnorm"}], {},
     "block dense1 has two batchnorm layers (batchnorm2)"),
    ("ff", [CONV], {}, "ff on net: conv1 is conv2d; Hinton's FF (label in the input) needs an "
                       "all-dense net"),
    ("ff", [DENSE], {"input": [1, 3, 3]}, "the input has 9 values, fewer than the 10 classes"),
    ("ff", [DENSE], {"ff_variant": "cwc"}, "sets ff_variant = \"cwc\""),
])
def test_refusals(algo, layers, top, message):
    arch = _arch(layers, **top)
    assert message in arch_rule(algo, arch)


def test_what_trains():
    cwc_conv = _arch([CONV, {"type": "pool", "size": 2}, {"type": "batchnorm"},
                      {"type": "layernorm"}])
    for algo in ("cwc", "bsff", "bgbsff", "bp"):
        assert arch_rule(algo, cwc_conv) is None
    assert arch_rule("bp", _arch([{**CONV, "channels": 7}])) is None  # bp: no class groups
    assert arch_rule("cwc", _arch([CONV, {"type": "batchnorm"}, {"type": "pool"}])) is None
    for name in ("cfse-mnist", "cwc-mnist", "ff-mlp-4x2000", "cfse-cifar10", "mf-mlp-3x2000"):
        arch = load_arch(name)
        assert simulated_rule(arch) is None
        for algo in ("cwc", "bsff", "bgbsff", "bp"):
            assert arch_rule(algo, arch) is None, (algo, name)
    assert arch_rule("ff", load_arch("ff-mlp-4x2000")) is None


def test_resolve_arch():
    assert resolve_arch("bsff", None, (1, 28, 28), 10, "mnist", "staggered").name == "cfse-mnist"
    assert resolve_arch("ff", None, (3, 32, 32), 10, "cifar10", "reference").name == \
        "ff-mlp-4x2000-cifar10"
    with pytest.raises(ValueError, match="has 10 classes, svhn has 12"):
        resolve_arch("bp", "cwc-mnist", (1, 28, 28), 12, "svhn", "none")
    with pytest.raises(ValueError, match="reference has no windows for 'svhn'"):
        resolve_arch("cwc", "cwc-mnist", (1, 28, 28), 10, "svhn", "reference")


def test_pure_python():
    code = ("import sys, pbitsim.network.arch_rules, pbitsim.schedules\n"
            "pbitsim.network.arch_rules.resolve_arch('cwc', None, (1, 28, 28), 10, 'mnist', 'reference')\n"
            "print(sorted(m for m in ('torch', 'numpy', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_tiled_forms_are_the_tiled_rules():
    """One list of tiled rules: every cost model that walks a p-bit net (``tiled``) is in
    ``TILED_RULES`` and prices p-bits, every local rule's ``--tiles`` form is one of them, and
    the real-valued rules are not."""
    from pbitsim.network.arch_rules import TILED_RULES, is_tiled
    from pbitsim.estimator.algorithms import algorithm_names, get_algorithm
    from pbitsim.rulebook import RULES, TILED_FORMS, recorded_algo, resolve_algo
    assert set(RULES) == set(algorithm_names())
    for name in RULES:
        model = get_algorithm(name)
        assert model.tiled == is_tiled(name) == (name in TILED_RULES), name
    assert set(TILED_FORMS.values()) <= set(TILED_RULES)
    assert not set(TILED_FORMS) & set(TILED_RULES)
    assert TILED_FORMS["cafo-rand"] == "bscafo-rand" and TILED_FORMS["cafo-dfa"] == "bscafo-dfa"
    for real, tiled in TILED_FORMS.items():
        assert resolve_algo(real, 3) == tiled and resolve_algo(real, None) == real
        assert type(get_algorithm(real)) in type(get_algorithm(tiled)).__mro__  # a subclass
    # what a checkpoint or counts file of an earlier version recorded
    assert recorded_algo("cafo-dfa", 7) == "bscafo-dfa" and recorded_algo("cafo-rand", 2) == \
        "bscafo-rand"
    assert recorded_algo("cafo-dfa", None) == "cafo-dfa"
    assert recorded_algo("mf", 7) == "mf"  # real MF of earlier versions recorded an unused 7
    assert recorded_algo("bscafo-dfa", 7) == "bscafo-dfa"


def test_bscafo_defaults_are_cafo_s():
    from pbitsim.network.archs import default_arch
    from pbitsim.schedules import default_schedule, dfa_epochs
    for algo in ("bscafo-rand", "bscafo-dfa"):
        assert default_arch((1, 28, 28), rule(algo).net) == "cafo-cnn-mnist"
        assert default_arch((3, 32, 32), rule(algo).net) == "cafo-cnn-cifar10"
        assert default_schedule(algo) == "greedy"
        assert resolve_arch(algo, None, (1, 28, 28), 10, "mnist", "online").name == \
            "cafo-cnn-mnist"
    assert dfa_epochs("bscafo-dfa", "fashion-mnist") == 15 == dfa_epochs("cafo-dfa",
                                                                          "fashion-mnist")
    assert dfa_epochs("bscafo-rand", "fashion-mnist") == 0
    # a tiled rule models the pre-activation batch norm itself: a pre_norm net is a p-bit net
    pre = _arch([CONV, {"type": "pool", "size": 2}], pre_norm=True)
    assert "pre_norm" in arch_rule("cafo-dfa", pre) and arch_rule("bscafo-dfa", pre) is None
