"""Analytic counts of one training step checked against values worked out by hand.

MLP: input K = 4 -> dense 3 -> dense 2 -> head 2 (Hinton variant: 2 passes, no head).
CwC MLP: input K = 4 -> dense 4 -> batch norm -> dense 2 -> head 2 (for the tiled rules).
ConvNet: 1x4x4 -> conv 2ch -> conv 4ch -> pool 2 -> head (CwC: 1 pass). A 3x3 pad-1 conv on a
4x4 map has 2+3+3+2 = 10 valid taps per axis, so conv2 (2 -> 4 channels) has 4*2*10*10 = 800
taps per sample. Batch B = 4 (a step's counts are whole numbers), one tile (M = 1), so that a
density d gives E[x] = P(x > 0) = d exactly.

Conventions (pbitsim.network.costs): a transcendental is 4 mul + 4 add; a bias is an add per output
and a word per channel; Adam is 10 mul + 8 add per parameter with 5 word accesses.
"""

import pytest

from em_helpers import convnet, mlp, mlp_cwc
from pbitsim.estimator.algorithms import (
    Algorithm, LayerCounts, ModelParams, algorithm_names, get_algorithm, register)
from pbitsim.network.counts import Counts

approx = pytest.approx
B = 4


def rows(algo, arch, density, scope="training", **kw):
    params = ModelParams(tiles=1, densities=(density,), batch_size=B, **kw)
    model = get_algorithm(algo)
    out = (model.training_step(arch, params) if scope == "training"
           else model.inference_step(arch, params))
    return {r.name: r for r in out}


def same(counts, expected):
    assert dict(counts) == approx(expected), f"\n got {dict(counts)}\nwant {expected}"


# --- BP on the MLP ------------------------------------------------------------------------

def test_bp_mlp():
    r = rows("bp", mlp(), 0.5)
    d1 = r["dense1"].phases
    # 48 MACs (B x 4 x 3): mul, add and a weight each; input 16 read (and stashed), 12 written;
    # the bias: 12 adds, 3 words; ReLU: a compare per output and the 1-bit mask stashed.
    same(d1["forward"], {"mul:fp32": 48, "add:fp32": 60, "weight_read:fp32": 51,
                         "act_read:fp32": 28, "act_write:fp32": 24, "stash_write:fp32": 16,
                         "cmp:fp32": 12, "stash_write:u1": 12})
    # The first layer needs no input gradient: only the ReLU mask.
    same(d1["backward"], {"stash_read:u1": 12, "cmp:u1": 12, "grad_read:fp32": 12,
                          "grad_write:fp32": 12})
    # dW = x^T g (gradient read per MAC, stashed input read once) and the bias gradient;
    # 15 gradient words written once per step.
    same(d1["weight_grad"], {"mul:fp32": 48, "add:fp32": 60, "grad_read:fp32": 48,
                             "stash_read:fp32": 16, "grad_write:fp32": 15})
    same(d1["update"], {"mul:fp32": 150, "add:fp32": 120, "grad_read:fp32": 15,
                        "weight_read:fp32": 15, "weight_write:fp32": 15,
                        "state_read:fp32": 30, "state_write:fp32": 30})
    # Second layer: ReLU mask, then W^T dY (24 MACs) into the 12 inputs.
    same(r["dense2"].phases["backward"], {
        "stash_read:u1": 8, "cmp:u1": 8, "grad_read:fp32": 16, "grad_write:fp32": 20,
        "mul:fp32": 24, "add:fp32": 24, "weight_read:fp32": 24})
    # Softmax CE, 4 rows x 2 classes: 3 transcendentals a row (12 x (4 mul + 4 add)), a sum and
    # a scale per logit, and the gradient p - y.
    same(r["head"].phases["loss"], {"mul:fp32": 56, "add:fp32": 64, "act_read:fp32": 8,
                                    "grad_write:fp32": 8})


def test_ff_mlp_two_passes():
    r = rows("ff", mlp(), 0.5)
    assert "head" not in r  # Hinton's FF predicts from the goodness
    d1 = r["dense1"].phases
    # Per pass: RMS norm of the 16 inputs (32 mul, 16 add, 4 rsqrt), the product, the bias,
    # ReLU with its mask; two passes.
    same(d1["forward"], {"mul:fp32": 192, "add:fp32": 184, "weight_read:fp32": 102,
                         "act_read:fp32": 120, "act_write:fp32": 80, "cmp:fp32": 24,
                         "act_write:u1": 24})
    # Goodness of 12 units into 4 means, per pass; the pairwise loss: 8 transcendentals and
    # 3 adds + 3 muls per pair.
    same(d1["loss"], {"mul:fp32": 76, "add:fp32": 68, "act_read:fp32": 28,
                      "act_write:fp32": 4})
    same(d1["backward"], {"mul:fp32": 24, "act_read:fp32": 24, "grad_write:fp32": 48,
                          "act_read:u1": 24, "cmp:u1": 24, "grad_read:fp32": 24})
    same(d1["weight_grad"], {"mul:fp32": 96, "add:fp32": 120, "grad_read:fp32": 96,
                             "act_read:fp32": 32, "grad_write:fp32": 30})
    assert not any(k.startswith("stash") for k in d1["forward"])


# --- the tiled rules on the CwC MLP ---------------------------------------------------------

def test_bsff_index_layer():
    d2 = rows("bsff", mlp_cwc(), 0.5)["dense2"].phases
    # The previous batch norm folded into the 8 weights (2 mul, 1 add, a read and a write
    # each); 8 taps x E[x] = 0.5 x 4 samples = 16 adds and 16 weight fetches; the bias map.
    # Pre-activation batch norm over 8 values in 2 channels: 24 adds + 16 muls per element
    # pass, 2 rsqrts, 4 + 4 per-channel ops, 4 affine words. One p-bit per unit.
    same(d2["forward"], {"mul:fp32": 44, "add:fp32": 68, "weight_read:fp32": 30,
                         "weight_write:fp32": 8, "act_read:u1": 16, "act_read:fp32": 24,
                         "act_write:fp32": 16, "act_write:u1": 8, "pbit_sample": 8})
    # Transposed index product (16 adds, 16 gradient reads, 8 gradient words), back through
    # the folded affine (16 + 8 per weight / output), and the bias gradient. No multiply of
    # a count.
    same(d2["weight_grad"], {"add:fp32": 40, "mul:fp32": 16, "grad_read:fp32": 32,
                             "act_read:u1": 16, "grad_write:fp32": 18})


def test_bgbsff_quantized_weight_grad():
    d2 = rows("bgbsff", mlp_cwc(), 0.5)["dense2"].phases
    # Ternary errors (2 compares + a multiply each, 2-bit words), int32 accumulation reading
    # the 2-bit words, fold and bias gradients in fp32, then each of the 10 sums scaled once.
    same(d2["weight_grad"], {"cmp:fp32": 16, "mul:fp32": 34, "grad_read:fp32": 24,
                             "grad_write:u2": 8, "add:int32": 16, "grad_read:u2": 16,
                             "act_read:u1": 16, "grad_write:int32": 8, "add:fp32": 24,
                             "grad_write:fp32": 10})
    sign = rows("bgbsff", mlp_cwc(), 0.5, grad_quant="sign")["dense2"].phases["weight_grad"]
    assert sign["grad_read:u1"] == 16 and sign["add:fp32"] == 24 + 8  # mean|g|: an add each
    shift = rows("bgbsff", mlp_cwc(), 0.5, update="shift")["dense2"].phases["update"]
    # 10 linear parameters and the pre-activation norm's 2 x 2: one add, no optimizer state
    same(shift, {"add:fp32": 14, "grad_read:fp32": 14, "weight_read:fp32": 14,
                 "weight_write:fp32": 14})


def test_tiled_rules_need_the_cwc_loss():
    for algo in ("cwc", "bsff", "bgbsff"):
        with pytest.raises(ValueError, match="dense1 has 3 units, not divisible by the 2 "
                                             "classes"):
            rows(algo, mlp(), 0.5)


# --- one conv layer (conv2 of the tiny ConvNet) ------------------------------------------

def test_bp_conv():
    c2 = rows("bp", convnet(), 0.25)["conv2"].phases
    # 3,200 MACs; 128 inputs stashed; bias on 256 outputs; ReLU mask (u1) on 256; 2x2 pool:
    # 3 compares per pooled output (64), its 2-bit argmax stashed.
    same(c2["forward"], {"stash_write:fp32": 128, "mul:fp32": 3200, "add:fp32": 3456,
                         "weight_read:fp32": 3204, "act_read:fp32": 640,
                         "act_write:fp32": 576, "cmp:fp32": 448, "stash_write:u1": 256,
                         "stash_write:u2": 64})
    same(c2["weight_grad"], {"mul:fp32": 3200, "add:fp32": 3456, "grad_read:fp32": 3200,
                             "stash_read:fp32": 128, "grad_write:fp32": 76})


def test_cwc_conv_loss():
    c2 = rows("cwc", convnet(), 0.25)["conv2"].phases
    # Class-group goodness of the 64 pooled outputs into 4 x 2 means, softmax CE over 2 classes.
    same(c2["loss"], {"mul:fp32": 64 + 8 + 56, "add:fp32": 64 + 64, "act_read:fp32": 64 + 8,
                      "grad_write:fp32": 8})


def test_bsff_head_reads_pooled_counts():
    r = rows("bsff", convnet(), 0.25)
    # The head reads the max over 4 binary units: P(x > 0) = 1 - 0.75^4 for each of the 16
    # inputs, 32 taps a sample (no batch norm to fold: the products and the bias).
    q = 1 - 0.75 ** 4
    head = r["head"].phases["forward"]
    assert head["add:fp32"] == approx(B * 32 * q + B * 2)
    assert "weight_write:fp32" not in head  # nothing folded into its weights
    assert head["act_read:u1"] == B * 16


def test_schedule_scales_the_learning_work():
    full = rows("cwc", convnet(), 0.25)["conv2"].phases
    half = rows("cwc", convnet(), 0.25, live=(1.0, 0.5))["conv2"].phases
    for phase in ("loss", "backward", "weight_grad", "update"):
        same(half[phase], full[phase].scaled(0.5))
    # frozen steps still run forward, without masks or indices
    assert half["forward"]["act_write:u1"] == full["forward"]["act_write:u1"] / 2


def test_inference_is_forward_only():
    for algo in ("bp", "cwc", "bsff", "bgbsff"):
        for row in rows(algo, convnet(), 0.25, "inference").values():
            assert set(k for k, v in row.phases.items() if v) == {"forward"}
            assert not any(k.startswith(("stash", "grad", "state")) for k in row.total())
    k2 = rows("bsff", convnet(), 0.25, "inference", eval_samples=2)
    k1 = rows("bsff", convnet(), 0.25, "inference")
    assert k2["conv2"].phases["forward"] == approx(k1["conv2"].phases["forward"].scaled(2))


def test_work_scales_with_density():
    lo = rows("bsff", convnet(), 0.1, "inference")["conv2"].phases["forward"]
    hi = rows("bsff", convnet(), 0.2, "inference")["conv2"].phases["forward"]
    base = lo["add:fp32"] - B * 800 * 0.1
    assert hi["add:fp32"] - base == approx(2 * (lo["add:fp32"] - base))


def test_registry_is_extensible():
    assert algorithm_names()[:5] == ["bp", "ff", "cwc", "bsff", "bgbsff"]

    @register
    class Dummy(Algorithm):
        name = "dummy-test-algo"

        def training_step(self, arch, params):
            row = LayerCounts("all", "")
            row.phases["forward"] = Counts({"add:fp32": float(params.batch_size)})
            return [row]

        inference_step = training_step

    from pbitsim.estimator import estimate
    try:
        result = estimate(arch=mlp(), algos=["ff", "dummy-test-algo"])
        assert result.get("dummy-test-algo").total_pj() == approx(0.9)
    finally:
        from pbitsim.estimator.algorithms import _REGISTRY
        _REGISTRY.pop("dummy-test-algo")
    with pytest.raises(ValueError, match="unknown algorithm 'nope'"):
        get_algorithm("nope")
