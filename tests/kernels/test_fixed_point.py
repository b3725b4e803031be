"""Fixed-point kernels against an independent integer reference, bit for bit (saturation
included), and their counts against the fp32 kernels' at the fixed-point widths."""

import numpy as np
import pytest

from pbitsim.network import costs
from pbitsim.network.counters import OpCounter
from pbitsim.kernels import fixed_point as F
from pbitsim.kernels import index_products as I
from pbitsim.kernels.rng import seed_key
from pbitsim.seeds import mix64_py as _mix64_py
from pbitsim.precision import make_precision


# ------------------------------------------------------------------ independent reference
def _sat(a, s, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(hi, max(lo, a + s))


def ref_matmul(x, w, bits):
    """Python ints: per output, inputs k ascending, each count's v adds, clamp at every add."""
    out = np.zeros((x.shape[0], w.shape[1]), object)
    for b in range(x.shape[0]):
        for n in range(w.shape[1]):
            a = 0
            for k in range(x.shape[1]):
                for _ in range(int(x[b, k])):
                    a = _sat(a, int(w[k, n]), bits)
            out[b, n] = a
    return out


def ref_conv(x, w, bits, stride, padding, groups):
    n_b, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n_b, o, ho, wo), object)
    for b in range(n_b):
        for oc in range(o):
            g = oc // og
            for oy in range(ho):
                for ox in range(wo):
                    a = 0
                    for ci in range(cg):
                        for ky in range(kh):
                            for kx in range(kw):
                                iy, ix = oy * stride - padding + ky, ox * stride - padding + kx
                                if 0 <= iy < h and 0 <= ix < wd:
                                    for _ in range(int(x[b, g * cg + ci, iy, ix])):
                                        a = _sat(a, int(w[oc, ci, ky, kx]), bits)
                    out[b, oc, oy, ox] = a
    return out


def ref_conv_wgrad(x, g, ksize, bits, stride, padding, groups):
    n_b, c, h, wd = x.shape
    _, o, ho, wo = g.shape
    cg, og = c // groups, o // groups
    out = np.zeros((o, cg, ksize, ksize), object)
    for oc in range(o):
        gi = oc // og
        for ci in range(cg):
            for ky in range(ksize):
                for kx in range(ksize):
                    a = 0
                    for b in range(n_b):
                        for oy in range(ho):
                            for ox in range(wo):
                                iy, ix = oy * stride - padding + ky, ox * stride - padding + kx
                                if 0 <= iy < h and 0 <= ix < wd:
                                    for _ in range(int(x[b, gi * cg + ci, iy, ix])):
                                        a = _sat(a, int(g[b, oc, oy, ox]), bits)
                    out[oc, ci, ky, kx] = a
    return out


def ref_quantize(v, bits, per_channel, stochastic, seed):
    qmax = (1 << (bits - 1)) - 1
    rows = v.reshape(v.shape[0] if per_channel else 1, -1).astype(np.float64)
    peak = np.abs(rows).max(axis=1)
    scale = np.where(peak > 0, peak / qmax, 1.0)
    key = int(seed_key(seed))
    out = np.zeros(rows.shape, np.int64)
    for c in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            t = rows[c, j] / scale[c]
            if stochastic:
                u = (_mix64_py(key + (c * rows.shape[1] + j + 1) * 0x9E3779B97F4A7C15) >> 40) \
                    * 2.0 ** -24
                r = np.floor(t + u)
            else:
                r = np.floor(t + 0.5)
            out[c, j] = int(min(qmax, max(-qmax, r)))
    return out.reshape(v.shape), scale


rng = np.random.default_rng(1234)


@pytest.mark.parametrize("acc_bits,wmax", [(32, 127), (10, 127), (8, 100), (64, 2 ** 62)])
def test_matmul_and_xt_equal_reference(acc_bits, wmax):
    x = rng.integers(0, 8, (5, 9)).astype(np.uint8)
    x[rng.random(x.shape) < 0.3] = 0
    w = rng.integers(-wmax, wmax + 1, (9, 6), dtype=np.int64)
    got = F.fixed_index_matmul(x, w, acc_bits, word_bits=min(acc_bits, 8), tiles=7)
    assert np.array_equal(got.astype(object), ref_matmul(x, w, acc_bits))
    g = rng.integers(-wmax, wmax + 1, (5, 6), dtype=np.int64)
    got = F.fixed_index_matmul_xt(x, g, acc_bits, word_bits=min(acc_bits, 8), tiles=7)
    assert np.array_equal(got.astype(object), ref_matmul(x.T, g, acc_bits))
    assert got.dtype == (np.int32 if acc_bits <= 32 else np.int64)


def test_saturation_happens_and_order_matters():
    # 100 + 100 saturates at 127 in 8 bits, then -100 gives 27 (not 100): the order is defined
    x = np.array([[1, 1, 1]], np.uint8)
    w = np.array([[100], [100], [-100]])
    assert F.fixed_index_matmul(x, w, 8, word_bits=8)[0, 0] == 27
    assert F.fixed_index_matmul(x, w, 16, word_bits=8)[0, 0] == 100
    x = np.array([[3, 0, 2]], np.uint8)  # 3 x 100 -> 127, then 2 x -100 -> -73
    assert F.fixed_index_matmul(x, w, 8, word_bits=8)[0, 0] == -73


@pytest.mark.parametrize("acc_bits,stride,padding,groups", [(32, 1, 1, 1), (9, 2, 0, 2),
                                                            (12, 1, 2, 3)])
def test_conv_and_weight_grad_equal_reference(acc_bits, stride, padding, groups):
    x = rng.integers(0, 8, (2, 6, 5, 5)).astype(np.uint8)
    x[rng.random(x.shape) < 0.3] = 0
    w = rng.integers(-60, 61, (6, 6 // groups, 3, 3), dtype=np.int64)
    got = F.fixed_index_conv2d(x, w, acc_bits, stride, padding, word_bits=8, groups=groups,
                               tiles=7)
    assert np.array_equal(got.astype(object), ref_conv(x, w, acc_bits, stride, padding, groups))
    g = rng.integers(-60, 61, got.shape, dtype=np.int64)
    gw = F.fixed_index_conv2d_weight_grad(x, g, 3, acc_bits, stride, padding, word_bits=8,
                                          groups=groups, tiles=7)
    assert np.array_equal(gw.astype(object),
                          ref_conv_wgrad(x, g, 3, acc_bits, stride, padding, groups))


def test_wide_accumulator_equals_exact_products():
    """Without saturation the integer kernels are the exact integer products."""
    x = rng.integers(0, 8, (16, 40)).astype(np.uint8)
    w = rng.integers(-127, 128, (40, 12))
    assert np.array_equal(F.fixed_index_matmul(x, w, 32, word_bits=8), x.astype(np.int64) @ w)


@pytest.mark.parametrize("bits,per_channel,stochastic", [(8, True, False), (4, False, False),
                                                         (3, True, True), (16, False, True),
                                                         (64, True, False)])
def test_quantize_equals_reference(bits, per_channel, stochastic):
    v = rng.standard_normal((5, 7)).astype(np.float32)
    v[2] = 0.0  # a channel of zeros: scale 1, all zero
    q, scale = F.quantize(v, bits, scale_rule="channel" if per_channel else "layer",
                          rounding="stochastic" if stochastic else "nearest", seed=11)
    q_ref, s_ref = ref_quantize(v, bits, per_channel, stochastic, 11)
    assert np.array_equal(q, q_ref) and np.array_equal(scale, s_ref)
    assert np.abs(q).max() <= (1 << (bits - 1)) - 1


def test_quantize_saturates_and_stochastic_is_unbiased():
    v = np.array([[0.5, 1.0, 3.0, -9.0]], np.float32)
    q, _ = F.quantize(v, 4, scale=np.array([0.25]))  # qmax 7
    assert q.tolist() == [[2, 4, 7, -7]]
    v = np.full((1, 20000), 0.3, np.float32)
    q, s = F.quantize(v, 4, rounding="stochastic", seed=5, scale=np.array([1.0]))
    assert set(np.unique(q)) == {0, 1} and abs(q.mean() - 0.3) < 0.02


def test_counts_are_the_fp32_kernels_at_the_widths():
    prec = make_precision(8, 20)
    x = rng.integers(0, 8, (4, 3, 6, 6)).astype(np.uint8)
    w = rng.integers(-127, 128, (6, 3, 3, 3))
    got, ref = OpCounter(), OpCounter()
    F.fixed_index_conv2d(x, w, 20, 1, 1, got, word_bits=8, tiles=7)
    I.index_conv2d(x, w.astype(np.float32), 1, 1, ref, tiles=7)
    assert got.as_dict() == dict(costs.at_precision(ref.as_dict(), "forward", prec))
    assert "add:int20" in got.as_dict() and "weight_read:int8" in got.as_dict()
    prec = make_precision(8, 24, 6)
    g = rng.integers(-31, 32, (4, 6, 6, 6))
    got, ref = OpCounter(), OpCounter()
    F.fixed_index_conv2d_weight_grad(x, g, 3, 24, 1, 1, got, word_bits=6, tiles=7)
    I.index_conv2d_weight_grad(x, g.astype(np.float32), 3, 1, 1, ref, tiles=7)
    assert got.as_dict() == dict(costs.at_precision(ref.as_dict(), "weight_grad", prec))
    xm = x.reshape(4, -1)
    got, ref = OpCounter(), OpCounter()
    F.fixed_index_matmul(xm, rng.integers(-9, 9, (xm.shape[1], 5)), 20, got, word_bits=8, tiles=7)
    I.index_matmul(xm, np.ones((xm.shape[1], 5), np.float32), ref, tiles=7)
    assert got.as_dict() == dict(costs.at_precision(ref.as_dict(), "forward", make_precision(8, 20)))


def test_bad_inputs_are_refused():
    x = np.ones((2, 3), np.uint8)
    with pytest.raises(ValueError, match="acc_bits"):
        F.fixed_index_matmul(x, np.ones((3, 2), int), 65, word_bits=8)
    with pytest.raises(ValueError, match="outside"):
        F.fixed_index_matmul(x, np.full((3, 2), 200), 8, word_bits=8)
    with pytest.raises(ValueError, match="integers"):
        F.fixed_index_matmul(x, np.ones((3, 2), np.float32), 8, word_bits=8)
    with pytest.raises(ValueError, match="bits"):
        F.quantize(np.ones((2, 2), np.float32), 0)
    with pytest.raises(ValueError, match="tiles"):
        F.fixed_index_matmul(np.full((2, 3), 9, np.uint8), np.ones((3, 2), int), 8, word_bits=8,
                             tiles=7)


def test_same_integers_on_any_thread_count(digests_on_threads):
    script = (
        "import hashlib, numpy as np\n"
        "from pbitsim.kernels import fixed_point as F\n"
        "r = np.random.default_rng(0)\n"
        "x = r.integers(0, 8, (8, 4, 9, 9)).astype(np.uint8)\n"
        "w = r.integers(-127, 128, (8, 4, 3, 3))\n"
        "o = F.fixed_index_conv2d(x, w, 12, 1, 1, word_bits=8)\n"
        "gw = F.fixed_index_conv2d_weight_grad(x, o.clip(-60, 60), 3, 14, 1, 1, word_bits=8)\n"
        "q, _ = F.quantize(r.standard_normal((6, 50)).astype(np.float32), 5, rounding='stochastic', seed=3)\n"
        "print(hashlib.sha256(o.tobytes() + gw.tobytes() + q.tobytes()).hexdigest())\n")
    assert len(digests_on_threads(script)) == 1
