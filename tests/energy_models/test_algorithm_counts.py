"""Analytic counts checked against values worked out by hand for tiny networks.

MLP: input K = 4 -> dense 3 -> dense 2 -> head 2 (Hinton variant: 2 passes).
ConvNet: 1x4x4 -> conv 2ch -> conv 3ch -> pool 2 -> head (CwC: 1 pass).
A 3x3 pad-1 conv on a 4x4 map has 2+3+3+2 = 10 valid taps per axis, so conv2 (2 -> 3
channels) has 3*2*10*10 = 600 taps. Batch 4, one tile (M = 1), so that a density d
gives E[x] = P(x > 0) = d exactly.
"""

import pytest

from em_helpers import convnet, mlp
from pbitsim.energy_models.algorithms import (Algorithm, LayerCounts, ModelParams,
                                              algorithm_names, get_algorithm, register)
from pbitsim.energy_models import ops
from pbitsim.energy_models.counts import Counts

approx = pytest.approx


def rows(algo, arch, density, scope="training"):
    params = ModelParams(tiles=1, densities=(density,), batch_size=4)
    model = get_algorithm(algo)
    out = model.training(arch, params) if scope == "training" else model.inference(arch, params)
    return {r.name: r for r in out}


def same(counts, expected):
    assert dict(counts) == approx(expected), f"\n got {dict(counts)}\nwant {expected}"


# --- 2-layer MLP ------------------------------------------------------------------------

def test_bp_mlp():
    r = rows("bp", mlp(), 0.5)
    d1 = r["dense1"].phases
    same(d1["forward"], {"stash_write:fp32": 4, "mul:fp32": 12, "add:fp32": 15,
                         "weight_read:fp32": 15, "act_read:fp32": 7, "act_write:fp32": 6,
                         "cmp:fp32": 3, "stash_write:u1": 3})
    # The first layer needs no input gradient: only the ReLU mask.
    same(d1["backward"], {"stash_read:u1": 3, "cmp:u1": 3, "grad_read:fp32": 3,
                          "grad_write:fp32": 3})
    same(d1["weight_grad"], {"mul:fp32": 12, "add:fp32": 15, "grad_read:fp32": 12,
                             "stash_read:fp32": 4, "grad_write:fp32": 15 / 4})
    # Adam over 15 parameters, once per batch of 4.
    same(d1["update"], {"mul:fp32": 37.5, "add:fp32": 30, "grad_read:fp32": 3.75,
                        "weight_read:fp32": 3.75, "weight_write:fp32": 3.75,
                        "state_read:fp32": 7.5, "state_write:fp32": 7.5})
    # Second layer: ReLU mask plus W^T dY (6 taps, 2 outputs, 3 inputs).
    same(r["dense2"].phases["backward"], {
        "stash_read:u1": 2, "cmp:u1": 2, "grad_read:fp32": 4, "grad_write:fp32": 5,
        "mul:fp32": 6, "add:fp32": 6, "weight_read:fp32": 6})
    # Softmax CE over 2 classes: 3 transcendentals (4 mul + 4 add each) + sum/normalize
    # + the gradient p - y.
    same(r["head"].phases["loss"], {"mul:fp32": 14, "add:fp32": 16, "grad_write:fp32": 2})


def test_ff_mlp_two_passes():
    d1 = rows("ff", mlp(), 0.5)["dense1"].phases
    same(d1["forward"], {"mul:fp32": 24, "add:fp32": 30, "weight_read:fp32": 30,
                         "act_read:fp32": 14, "act_write:fp32": 12, "cmp:fp32": 6,
                         "act_write:u1": 6})
    same(d1["loss"], {"mul:fp32": 14, "add:fp32": 18, "act_read:fp32": 6})
    same(d1["backward"], {"mul:fp32": 6, "act_read:fp32": 6, "grad_write:fp32": 12,
                          "act_read:u1": 6, "cmp:u1": 6, "grad_read:fp32": 6})
    same(d1["weight_grad"], {"mul:fp32": 24, "add:fp32": 30, "grad_read:fp32": 24,
                             "act_read:fp32": 8, "grad_write:fp32": 7.5})
    assert not any(k.startswith("stash") for k in d1["forward"])


def pre_norm(n, channels=None, passes=2):
    """BSFF's batch norm before the tiles of a layer with n outputs in ``channels`` channels
    (dense: one per unit), batch 4.

    Per pass: 3n adds and 2n multiplies, 2n reads, n writes, and per channel (1/4 per
    sample) an rsqrt (4 mul + 4 add) and 2 mul + 2 add for the affine.
    """
    ch = n if channels is None else channels
    return {"mul:fp32": passes * (2 * n + 6 * ch / 4), "add:fp32": passes * (3 * n + 6 * ch / 4),
            "act_read:fp32": passes * 2 * n, "act_write:fp32": passes * n}


def plus(a, b):
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


def test_bsff_mlp():
    r = rows("bsff", mlp(), 0.5)
    d1, d2 = r["dense1"].phases, r["dense2"].phases
    # First layer multiplies the real input; its output is batch-normalised, then the
    # tiled units sample one p-bit per unit.
    same(d1["forward"], plus(pre_norm(3), {"mul:fp32": 24, "add:fp32": 30,
                                           "weight_read:fp32": 30, "act_read:fp32": 14,
                                           "act_write:fp32": 6, "pbit_sample": 6,
                                           "act_write:u1": 6}))
    # Goodness = integer sum of squares of the 3 binary units, then the logistic loss.
    same(d1["loss"], {"mul:u1": 6, "add:int32": 6, "act_read:u1": 6, "mul:fp32": 8,
                      "add:fp32": 12})
    # Second layer index-accumulates: 6 taps at density 0.5 -> 3 adds and 3 weight
    # fetches, plus the 2 biases; per pass, two passes. Its only multiplies are the
    # pre-activation batch norm's.
    same(d2["forward"], plus(pre_norm(2), {"add:fp32": 10, "weight_read:fp32": 10,
                                           "act_read:u1": 6, "act_write:fp32": 4,
                                           "pbit_sample": 4, "act_read:fp32": 4,
                                           "act_write:u1": 4}))
    same(d2["weight_grad"], {"add:fp32": 10, "grad_read:fp32": 6, "act_read:u1": 6,
                             "grad_write:fp32": 4})
    assert "mul:fp32" not in d2["weight_grad"]
    same(r["head"].phases["forward"], {"add:fp32": 4, "weight_read:fp32": 4,
                                       "act_read:u1": 2, "act_write:fp32": 2})
    # At inference the pre-activation batch norm is folded into the layer's weights.
    inf = rows("bsff", mlp(), 0.5, scope="inference")
    assert "mul:fp32" not in inf["dense2"].phases["forward"]


def test_bgbsff_mlp():
    r = rows("bgbsff", mlp(), 0.5)
    d1, d2 = r["dense1"].phases, r["dense2"].phases
    # Sign of the local gradient: one compare per unit, one bit written; nothing
    # flows back through the tiles.
    same(d1["backward"], {"cmp:u1": 6, "act_read:u1": 6, "grad_write:u1": 6})
    # Real input, sign gradients: add or subtract x, fp32 accumulators.
    same(d1["weight_grad"], {"add:fp32": 30, "grad_read:u1": 24, "act_read:fp32": 8,
                             "grad_write:fp32": 7.5})
    # Binary input: accumulators hold +-1 * 4 samples -> 4 bits (int4).
    same(d2["weight_grad"], {"add:int4": 10, "grad_read:u1": 6, "act_read:u1": 6,
                             "grad_write:int4": 4})
    # The pre-activation batch norm's 2 x 2 affine parameters keep Adam.
    same(d2["update"], plus(dict(ops.adam(4, 4)), {"add:fp32": 2, "grad_read:int4": 2,
                                                  "weight_read:fp32": 2,
                                                  "weight_write:fp32": 2}))


# --- one conv layer (conv2 of the tiny ConvNet) ------------------------------------------

def test_bp_conv():
    c2 = rows("bp", convnet(), 0.25)["conv2"].phases
    same(c2["forward"], {"stash_write:fp32": 32, "mul:fp32": 600, "add:fp32": 648,
                         "weight_read:fp32": 648, "act_read:fp32": 128,
                         "act_write:fp32": 108, "cmp:fp32": 84, "stash_write:u1": 48,
                         "stash_write:u2": 12})
    same(c2["backward"], {"stash_read:u2": 12, "grad_read:fp32": 108, "grad_write:fp32": 128,
                          "stash_read:u1": 48, "cmp:u1": 48, "mul:fp32": 600,
                          "add:fp32": 600, "weight_read:fp32": 600})
    same(c2["weight_grad"], {"mul:fp32": 600, "add:fp32": 648, "grad_read:fp32": 600,
                             "stash_read:fp32": 32, "grad_write:fp32": 57 / 4})


def test_ff_conv():
    c2 = rows("ff", convnet(), 0.25)["conv2"].phases
    # Class-group goodness on the 12 pooled outputs, softmax CE over 2 classes.
    same(c2["loss"], {"mul:fp32": 26, "add:fp32": 28, "act_read:fp32": 12,
                      "grad_write:fp32": 2})
    same(c2["weight_grad"], {"mul:fp32": 600, "add:fp32": 648, "grad_read:fp32": 600,
                             "act_read:fp32": 32, "grad_write:fp32": 57 / 4})


def test_bsff_conv():
    r = rows("bsff", convnet(), 0.25)
    c2 = r["conv2"].phases
    same(c2["forward"], plus(pre_norm(48, 3, passes=1),
                             {"add:fp32": 198, "weight_read:fp32": 198, "act_read:u1": 80,
                              "act_write:fp32": 48, "pbit_sample": 48, "act_read:fp32": 48,
                              "act_write:u1": 60, "cmp:u1": 36, "act_write:u2": 12}))
    same(c2["weight_grad"], {"add:fp32": 198, "grad_read:fp32": 150, "act_read:u1": 32,
                             "grad_write:fp32": 57 / 4})
    # The head reads the max over 4 binary units: P(x > 0) = 1 - 0.75^4.
    q = 1 - 0.75 ** 4
    same(r["head"].phases["forward"], {"add:fp32": 24 * q + 2, "weight_read:fp32": 24 * q + 2,
                                       "act_read:u1": 12, "act_write:fp32": 2})


def test_bgbsff_conv():
    c2 = rows("bgbsff", convnet(), 0.25)["conv2"].phases
    # 16 output positions share each weight: +-x over 4 samples * 16 positions -> int8.
    same(c2["weight_grad"], {"add:int8": 198, "grad_read:u1": 150, "act_read:u1": 32,
                             "grad_write:int8": 57 / 4})
    same(c2["backward"], {"cmp:u1": 12, "act_read:u1": 12, "grad_write:u1": 60,
                          "act_read:u2": 12, "grad_read:u1": 12})


def test_inference_is_forward_only():
    for algo in ("bp", "ff", "bsff", "bgbsff"):
        for row in rows(algo, convnet(), 0.25, "inference").values():
            assert set(k for k, v in row.phases.items() if v) == {"forward"}
            assert not any(k.startswith(("stash", "grad", "state")) for k in row.total())
    bp = rows("bp", convnet(), 0.25, "inference")
    ff = rows("ff", convnet(), 0.25, "inference")
    assert {k: dict(v.total()) for k, v in bp.items()} == {k: dict(v.total())
                                                           for k, v in ff.items()}


def test_work_scales_with_density():
    lo = rows("bsff", convnet(), 0.1, "inference")["conv2"].phases["forward"]
    hi = rows("bsff", convnet(), 0.2, "inference")["conv2"].phases["forward"]
    assert hi["add:fp32"] - 48 == approx(2 * (lo["add:fp32"] - 48))


def test_registry_is_extensible():
    assert algorithm_names()[:5] == ["bp", "ff", "cwc", "bsff", "bgbsff"]

    @register
    class Dummy(Algorithm):
        name = "dummy-test-algo"

        def training(self, arch, params):
            row = LayerCounts("all", "")
            row.phases["forward"] = Counts({"add:fp32": 1.0})
            return [row]

        inference = training

    from pbitsim.energy_models import estimate
    try:
        result = estimate(arch=mlp(), algos=["ff", "dummy-test-algo"])
        assert result.get("dummy-test-algo").total_pj() == approx(0.9)
    finally:
        from pbitsim.energy_models.algorithms import _REGISTRY
        _REGISTRY.pop("dummy-test-algo")
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        get_algorithm("nope")
