"""The estimators and quantizers as objects: named by the CLI strings, parsed once, owning their
counts (pure Python) and their torch backwards (the bridge's subclasses)."""

import pickle
import subprocess
import sys

import pytest
import torch

from pbitsim.bridge import estimators as E
from pbitsim.bridge.modules import BSNLinear, QuantizeGrad, TiledLogistic
from pbitsim.network import costs
from pbitsim.network import gradients as G
from pbitsim.network.counters import counting


def test_names_are_the_cli_strings_in_one_order_on_both_sides():
    assert list(G.ESTIMATORS) == ["mean-field", "straight-through"] == list(E.ESTIMATORS)
    assert list(G.QUANTIZERS) == ["ternary", "sign"] == list(E.QUANTIZERS)
    for name in (*G.ESTIMATORS, *G.QUANTIZERS):
        assert str(G.ESTIMATORS.get(name) or G.QUANTIZERS[name]) == name


def test_parse_once_and_pass_objects_through():
    mf = G.estimator("mean-field")
    assert G.estimator(mf) is mf and isinstance(mf, G.MeanField)
    torch_mf = E.estimator(mf)  # the torch side of the same variant
    assert isinstance(torch_mf, G.MeanField) and hasattr(torch_mf, "backward")
    assert torch_mf == mf and hash(torch_mf) == hash(mf)
    assert E.quantizer(None) is None and G.quantizer(None) is None
    assert E.quantizer(G.quantizer("sign")) is E.QUANTIZERS["sign"]
    assert G.estimator("mean-field") != G.quantizer("ternary")
    for name in ("mean-field", "sign"):  # code written for the names fails loudly
        with pytest.raises(TypeError, match="object"):
            mf == name  # noqa: B015
        with pytest.raises(TypeError, match="object"):
            name != E.quantizer("ternary")  # noqa: B015
    for bad in ("meanfield", None, 3):
        with pytest.raises(ValueError, match="unknown estimator"):
            G.estimator(bad)
    with pytest.raises(ValueError, match="unknown gradient quantizer"):
        E.quantizer("binary")
    for obj in (*G.ESTIMATORS.values(), *G.QUANTIZERS.values(), *E.ESTIMATORS.values(),
                *E.QUANTIZERS.values()):
        again = pickle.loads(pickle.dumps(obj))  # a sweep worker gets the same variant
        assert again is obj  # each side's own object (the torch side keeps its backward)


def test_counts_are_the_vocabulary_s():
    assert G.MeanField().backward_counts(10, 3) == costs.tiled_backward(10, 3)
    assert G.StraightThrough().backward_counts(10, 3) == costs.straight_through_backward(10)
    # BGBSFF's quantizers, written out: sign compares and sums |g|; ternary finds the max,
    # divides and compares with a uniform
    assert G.quantizer("sign").counts(5) == {"add:fp32": 5, "cmp:fp32": 5, "grad_read:fp32": 5,
                                             "grad_write:u1": 5}
    assert G.quantizer("ternary").counts(5) == {"cmp:fp32": 10, "mul:fp32": 5,
                                                "grad_read:fp32": 5, "grad_write:u2": 5}
    assert costs.grad_dtype(G.quantizer("sign")) == "u1" and costs.grad_dtype(None) == "fp32"
    assert G.quantizer("ternary").stochastic and not G.quantizer("sign").stochastic


def test_modules_take_names_or_objects_alike():
    z0 = torch.randn(4, 6)
    grads = []
    for est in ("straight-through", G.StraightThrough(), E.StraightThrough()):
        z = z0.clone().requires_grad_(True)
        with counting() as c:
            s, _ = TiledLogistic(3, estimator=est, seed=1)(z)
            s.sum().backward()
        grads.append((z.grad, c.as_dict()))
    for g, counts in grads[1:]:
        assert torch.equal(g, grads[0][0]) and counts == grads[0][1]
    assert "straight-through" in repr(TiledLogistic(3, estimator=G.StraightThrough()))
    lin = BSNLinear(6, 2, tiles_in=3, grad_quant=G.quantizer("sign"))
    assert lin.grad_quant is E.QUANTIZERS["sign"] and "grad_quant='sign'" in repr(lin)
    with pytest.raises(ValueError):
        QuantizeGrad(None)


def test_estimate_stays_torch_free():
    code = "import sys, pbitsim.cli.estimate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
