"""Index-and-accumulate kernels against numpy / torch references, and their exact counts."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbitsim import OpCounter
from pbitsim.network.counters import uint_dtype
from pbitsim.kernels import (add_index_counts, conv2d_tap_stats, index_conv2d,
                             index_conv2d_weight_grad, index_matmul, index_matmul_xt,
                             matmul_tap_stats)

import naive

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def activations(rng, shape, density, tiles):
    """uint8 activations: each entry is non-zero with prob. density, then uniform in 1..tiles."""
    nz = rng.random(shape) < density
    return (nz * rng.integers(1, tiles + 1, shape)).astype(np.uint8)


def assert_close(got, ref, scale):
    """float32 sums of many terms: compare relative to the sum of magnitudes."""
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * (1 + scale))


@SETTINGS
@given(b=st.integers(0, 9), k=st.integers(1, 70), n=st.integers(1, 300),
       density=st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]), tiles=st.sampled_from([1, 3, 7]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_index_matmul_equals_numpy(b, k, n, density, tiles, seed):
    rng = np.random.default_rng(seed)
    x = activations(rng, (b, k), density, tiles)
    w = rng.standard_normal((k, n)).astype(np.float32)
    c = OpCounter()
    y = index_matmul(x, w, c, tiles=tiles)
    assert y.dtype == np.float32 and y.shape == (b, n)
    xf = x.astype(np.float64)
    assert_close(y, xf @ w, (xf @ np.abs(w)).max(initial=0))
    assert c == {"add:fp32": n * int(x.sum()), "weight_read:fp32": n * np.count_nonzero(x),
                 "act_read:" + uint_dtype(tiles): x.size, "act_write:fp32": b * n}
    assert c["mul:fp32"] == 0


@SETTINGS
@given(b=st.integers(0, 40), k=st.integers(1, 50), n=st.integers(1, 90),
       density=st.sampled_from([0.0, 0.1, 0.5, 1.0]), tiles=st.sampled_from([1, 7]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_index_matmul_xt_equals_numpy(b, k, n, density, tiles, seed):
    rng = np.random.default_rng(seed)
    x = activations(rng, (b, k), density, tiles)
    g = rng.standard_normal((b, n)).astype(np.float32)
    c = OpCounter()
    dw = index_matmul_xt(x, g, c, tiles=tiles)
    assert dw.shape == (k, n)
    xf = x.astype(np.float64)
    assert_close(dw, xf.T @ g, (xf.T @ np.abs(g)).max(initial=0))
    assert c == {"add:fp32": n * int(x.sum()), "grad_read:fp32": n * np.count_nonzero(x),
                 "act_read:" + uint_dtype(tiles): x.size, "grad_write:fp32": k * n}


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    o = groups * draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 11))
    w = draw(st.integers(max(1, kw - 2 * pw), 11))
    return dict(b=draw(st.integers(0, 3)), c=c, o=o, h=h, w=w, kernel=(kh, kw),
                stride=(sh, sw), padding=(ph, pw), groups=groups,
                density=draw(st.sampled_from([0.0, 0.2, 0.6, 1.0])),
                tiles=draw(st.sampled_from([1, 2, 7])), seed=draw(st.integers(0, 2 ** 32 - 1)))


def _torch(a):
    return torch.from_numpy(np.ascontiguousarray(a, np.float32))


def _taps(x, case):
    """Over output positions and kernel taps: the input values summed (the add count per row)
    and the non-zero inputs (the rows fetched)."""
    return naive.tap_counts(x, case["kernel"], case["stride"], case["padding"], case["groups"])


def conv_operands(case):
    """A drawn case's counts x, weights w and the conv's keyword arguments."""
    rng = np.random.default_rng(case["seed"])
    x = activations(rng, (case["b"], case["c"], case["h"], case["w"]), case["density"],
                    case["tiles"])
    w = rng.standard_normal((case["o"], case["c"] // case["groups"], *case["kernel"])
                            ).astype(np.float32)
    return x, w, dict(stride=case["stride"], padding=case["padding"], groups=case["groups"])


@SETTINGS
@given(case=conv_cases())
def test_index_conv2d_equals_torch(case):
    x, w, kw = conv_operands(case)
    c = OpCounter()
    y = index_conv2d(x, w, counter=c, tiles=case["tiles"], **kw)
    ref = F.conv2d(_torch(x), _torch(w), **kw).numpy()
    assert y.shape == ref.shape and y.dtype == np.float32
    assert_close(y, ref, F.conv2d(_torch(x), _torch(np.abs(w)), **kw).numpy().max(initial=0))
    og = case["o"] // case["groups"]
    adds, reads = _taps(x, case)
    assert c == {"add:fp32": og * adds, "weight_read:fp32": og * reads,
                 "act_read:" + uint_dtype(case["tiles"]): x.size, "act_write:fp32": ref.size}


@SETTINGS
@given(case=conv_cases())
def test_index_conv2d_weight_grad_equals_torch(case):
    rng = np.random.default_rng(case["seed"])
    x = activations(rng, (case["b"], case["c"], case["h"], case["w"]), case["density"],
                    case["tiles"])
    kw = dict(stride=case["stride"], padding=case["padding"], groups=case["groups"])
    w_shape = (case["o"], case["c"] // case["groups"], *case["kernel"])
    out_shape = F.conv2d(_torch(x), torch.zeros(w_shape), **kw).shape
    g = rng.standard_normal(tuple(out_shape)).astype(np.float32)
    c = OpCounter()
    dw = index_conv2d_weight_grad(x, g, case["kernel"], counter=c, tiles=case["tiles"], **kw)
    ref = torch.nn.grad.conv2d_weight(_torch(x), w_shape, _torch(g), **kw).numpy()
    assert dw.shape == ref.shape
    scale = torch.nn.grad.conv2d_weight(_torch(x), w_shape, _torch(np.abs(g)), **kw).numpy()
    assert_close(dw, ref, scale.max(initial=0))
    og = case["o"] // case["groups"]
    adds, reads = _taps(x, case)
    assert c == {"add:fp32": og * adds, "grad_read:fp32": og * reads,
                 "act_read:" + uint_dtype(case["tiles"]): x.size,
                 "grad_write:fp32": int(np.prod(w_shape))}


def test_activation_width_from_data_when_tiles_not_given():
    c = OpCounter()
    index_matmul(np.array([[0, 5]], np.uint8), np.ones((2, 3), np.float32), c)
    assert c["act_read:u3"] == 2


@pytest.mark.parametrize("call, message", [
    (lambda: index_matmul(np.zeros((2, 3), np.int64), np.zeros((3, 2), np.float32)),
     "x must have dtype uint8"),
    (lambda: index_matmul(np.zeros((2, 3), np.uint8), np.zeros((3, 2))), "w must have dtype"),
    (lambda: index_matmul(np.zeros((2, 3), np.uint8), np.zeros((4, 2), np.float32)),
     "3 columns but w has 4 rows"),
    (lambda: index_matmul(np.zeros(3, np.uint8), np.zeros((3, 2), np.float32)), "2-D"),
    (lambda: index_matmul(np.full((1, 2), 8, np.uint8), np.zeros((2, 2), np.float32), tiles=7),
     "more than tiles=7"),
    (lambda: index_matmul(np.zeros((1, 2), np.uint8), np.zeros((2, 2), np.float32), tiles=0),
     "tiles must be in"),
    (lambda: index_matmul_xt(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.float32)),
     "2 rows but g has 3"),
    (lambda: index_conv2d(np.zeros((1, 3, 4, 4), np.uint8), np.zeros((2, 2, 3, 3), np.float32)),
     "expects 2 input channels"),
    (lambda: index_conv2d(np.zeros((1, 4, 4, 4), np.uint8), np.zeros((3, 2, 3, 3), np.float32),
                          groups=2), "groups=2 must divide"),
    (lambda: index_conv2d(np.zeros((1, 1, 2, 2), np.uint8), np.zeros((1, 1, 3, 3), np.float32)),
     "does not fit"),
    (lambda: index_conv2d(np.zeros((1, 1, 4, 4), np.uint8), np.zeros((1, 1, 3, 3), np.float32),
                          stride=0), "stride must be >= 1"),
    (lambda: index_conv2d(np.zeros((1, 1, 4, 4), np.uint8), np.zeros((1, 1, 3, 3), np.float32),
                          padding=(1, 2, 3)), "padding must be an int or a pair"),
    (lambda: index_conv2d(np.full((1, 1, 4, 4), 2, np.uint8), np.zeros((1, 1, 3, 3), np.float32),
                          tiles=1), "more than tiles=1"),
    (lambda: index_conv2d_weight_grad(np.zeros((1, 1, 4, 4), np.uint8),
                                      np.zeros((1, 1, 3, 3), np.float32), 3),
     "g must have shape"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


_THREAD_SCRIPT = """
import hashlib, numpy as np
from pbitsim.kernels import *
r = np.random.default_rng(3)
x = (r.random((64, 300)) < 0.3).astype(np.uint8) * r.integers(1, 8, (64, 300)).astype(np.uint8)
w = r.standard_normal((300, 500)).astype(np.float32)
xc = (r.random((8, 12, 10, 10)) < 0.3).astype(np.uint8) * 3
wc = r.standard_normal((24, 12, 3, 3)).astype(np.float32)
y = index_conv2d(xc, wc, 1, 1)
parts = [index_matmul(x, w), index_matmul_xt(x, r.standard_normal((64, 40)).astype(np.float32)),
         y, index_conv2d_weight_grad(xc, np.ascontiguousarray(y[:, :, :, :] * 0.5), 3, 1, 1)]
print(hashlib.sha256(b"".join(p.tobytes() for p in parts)).hexdigest())
"""


def test_identical_on_one_and_two_threads(digests_on_threads):
    assert len(digests_on_threads(_THREAD_SCRIPT)) == 1


@SETTINGS
@given(case=conv_cases())
def test_conv2d_tap_stats_give_the_kernels_counts(case):
    """The closed-form counts (no kernel run) equal both conv kernels' own, every key."""
    x, w, kw = conv_operands(case)
    tiles = case["tiles"] if case["seed"] % 2 else None  # also the width taken from the data
    fwd, grad = OpCounter(), OpCounter()
    y = index_conv2d(x, w, counter=fwd, tiles=tiles, **kw)
    dw = index_conv2d_weight_grad(x, np.ones_like(y), case["kernel"], counter=grad, tiles=tiles,
                                  **kw)
    stats = conv2d_tap_stats(x, case["kernel"], case["stride"], case["padding"], tiles=tiles)
    assert (stats.adds, stats.reads) == _taps(x, case)
    og = case["o"] // case["groups"]
    for kind, kernel_counts, n_out in (("forward", fwd, y.size), ("weight_grad", grad, dw.size)):
        c = OpCounter()
        add_index_counts(c, stats, kind, og, x.size, n_out)
        assert c.as_dict() == kernel_counts.as_dict()


@SETTINGS
@given(b=st.integers(0, 9), k=st.integers(1, 70), density=st.sampled_from([0.0, 0.3, 1.0]),
       tiles=st.sampled_from([1, 3, 7, None]), seed=st.integers(0, 2 ** 32 - 1))
def test_matmul_tap_stats_give_the_kernels_counts(b, k, density, tiles, seed):
    rng = np.random.default_rng(seed)
    x = activations(rng, (b, k), density, tiles or 5)
    n = 1 + seed % 17
    fwd, grad = OpCounter(), OpCounter()
    y = index_matmul(x, rng.standard_normal((k, n)).astype(np.float32), fwd, tiles=tiles)
    dw = index_matmul_xt(x, rng.standard_normal((b, n)).astype(np.float32), grad, tiles=tiles)
    stats = matmul_tap_stats(x, tiles=tiles)
    assert (stats.adds, stats.reads) == (int(x.sum()), np.count_nonzero(x))
    for kind, kernel_counts, n_out in (("forward", fwd, y.size), ("weight_grad", grad, dw.size)):
        c = OpCounter()
        add_index_counts(c, stats, kind, n, x.size, n_out)
        assert c.as_dict() == kernel_counts.as_dict()


def test_tap_stats_reject_what_the_kernels_reject():
    with pytest.raises(ValueError, match="more than tiles=1"):
        conv2d_tap_stats(np.full((1, 1, 4, 4), 2, np.uint8), 3, tiles=1)
    with pytest.raises(ValueError, match="more than tiles=7"):
        matmul_tap_stats(np.full((1, 2), 8, np.uint8), tiles=7)
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_tap_stats(np.zeros((1, 1, 2, 2), np.uint8), 3)
    with pytest.raises(ValueError, match="dtype uint8"):
        conv2d_tap_stats(np.zeros((1, 1, 4, 4), np.float32), 3)
