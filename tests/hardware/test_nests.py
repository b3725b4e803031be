"""Every product of every rule's step reaches the hardware model as a loop nest.

The nests ride on the counts (:attr:`pbitsim.network.costs.Counts.nests`) through each rule's
walk; if a walk built its counts some way that dropped them, a hardware model would silently
price fewer products. The check: walk each rule with every count function *except* the
products returning nothing; what is left is exactly the products' counts, and it must equal
the sum of the nests' own counts times their multiplicities, key by key.
"""

from __future__ import annotations

import math

import pytest

from pbitsim.estimator import estimate
from pbitsim.estimator.algorithms import algorithm_names
from pbitsim.network import costs, ops
from pbitsim.network.archs import list_archs
from pbitsim.network.costs import Counts
from pbitsim.network.gradients import Quantizer

KEEP = {"Counts", "FP", "SCALAR_FN", "ADAM_OPS", "grad_dtype", "index_dtype", "product",
        "at_precision", "quantized_accumulation"}


def _nest_sum(counts: Counts) -> dict:
    out: dict[str, float] = {}
    for nest, mult in counts.nests:
        for key, n in nest.flat:
            out[key] = out.get(key, 0.0) + n * mult
    return out


def _close(a: dict, b: dict) -> bool:
    keys = set(a) | set(b)
    return all(math.isclose(a.get(k, 0.0), b.get(k, 0.0), rel_tol=1e-9, abs_tol=1e-9)
               for k in keys)


def _compatible(algo, arch):
    try:
        estimate(arch=arch, algos=[algo])
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("algo", algorithm_names())
def test_every_product_has_its_nest(algo, monkeypatch):
    archs = [a for a in list_archs() if _compatible(algo, a)]
    assert archs
    full = {a: estimate(arch=a, algos=[algo]).algos[0].counts for a in archs}
    for name in costs.__all__:
        if name not in KEEP and callable(getattr(costs, name)):
            monkeypatch.setattr(costs, name, lambda *a, **k: Counts())
    monkeypatch.setattr(ops, "tiled", lambda *a, **k: Counts())
    # BGBSFF's error quantizers count their own work (the estimators go through costs)
    monkeypatch.setattr(Quantizer, "counts", lambda self, n: Counts())
    for arch in archs:
        only = estimate(arch=arch, algos=[algo]).algos[0].counts
        for scope in ("train", "inference"):
            products = {k: v for k, v in only[scope].items() if v}
            assert products, (algo, arch, scope)
            assert _close(products, _nest_sum(only[scope])), (algo, arch, scope)
            # and the nests are the same with every other function in place
            assert _close(_nest_sum(full[arch][scope]), _nest_sum(only[scope])), (algo, arch)


def test_operand_widths_follow_the_datapath_and_the_units():
    """Words move at their widths: 8-bit weights on a fixed-point datapath, uN tile counts
    (ceil(log2(M + 1)) bits) into an index layer, fp32 otherwise."""
    real = estimate(arch="cwc-mnist", algos=["cwc"], weight_bits=8).algos[0]
    forward = [n for n, _ in real.counts["train"].nests if n.phase == "forward"]
    assert forward and all(n.width("W") == 8 for n in forward)
    for m, bits in ((1, 1), (3, 2), (7, 3), (10, 4)):
        tiled = estimate(arch="cwc-mnist", algos=["bsff"], tiles=m).algos[0]
        index = [n for n, _ in tiled.counts["train"].nests if n.index and n.phase == "forward"]
        assert index and all(n.width("I") == bits and n.width("W") == 32 for n in index)
        assert all(0 < n.nonzero < 1 for n in index)
