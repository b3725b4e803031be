"""Slow, obviously right references for the kernels, in one place.

Each is written for clarity, not speed (Python loops over Python ints, float64 numpy, or
torch's own float ops) and independently of the kernel it checks: the tests compare pbitsim's
Numba kernels against these, bit for bit where the kernel is order-fixed integer arithmetic,
within a stated tolerance or statistically elsewhere. Import them by name (``import naive``):
tests/conftest.py puts this folder on ``sys.path``.
"""

from __future__ import annotations

import numpy as np

from pbitsim.kernels.rng import seed_key
from pbitsim.seeds import mix64_py


# ------------------------------------------------------------------------------ p-bits
def sigmoid(z):
    """The logistic function in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def tile_probs(z, tiles: int) -> np.ndarray:
    """P(tile i fires) of a tiled logistic unit, i = 1..M, on a new last axis:
    sigmoid(z - (i - 1/2)) (the offsets in z's own dtype, as the unit subtracts them)."""
    z = np.asarray(z)
    offsets = np.arange(1, tiles + 1, dtype=z.dtype if z.dtype.kind == "f" else np.float64) - 0.5
    return sigmoid(z[..., None] - offsets)


def lowbias32(x: int) -> int:
    """C. Wellons' lowbias32 on a Python int (32-bit words)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def hash32(key: int, j: int) -> int:
    """Word ``j`` of the ideal sampler's stream ``key``: lowbias32(lowbias32(j ^ k0) ^ k1),
    (k0, k1) the low and high halves of mix64(key)."""
    w = mix64_py(key)
    return lowbias32(lowbias32(j ^ (w & 0xFFFFFFFF)) ^ (w >> 32))


def tile_uniforms(seed, units: int, tiles: int) -> np.ndarray:
    """[units, tiles] uniforms the ideal sampler compares with the tiles' probabilities: tiles
    in groups of 2g (at most 8; g = ceil(ceil(M/2) / number of groups)), unit i's words at
    positions i * G * g + group * g + d, word d of a group deciding tile 2d by its high and
    2d + 1 by its low 16 bits, k -> (k + 1/2) / 2**16."""
    key = int(seed_key(seed))
    pairs = (tiles + 1) // 2
    groups = -(-pairs // 4)
    g = -(-pairs // groups)
    u = np.empty((units, tiles))
    for i in range(units):
        for t in range(tiles):
            grp, r = divmod(t, 2 * g)
            word = hash32(key, i * groups * g + grp * g + r // 2)
            half = word >> 16 if r % 2 == 0 else word & 0xFFFF
            u[i, t] = (half + 0.5) / 65536
    return u


def poisson_binomial_pmf(ps) -> np.ndarray:
    """Distribution of the number of successes of independent Bernoulli(ps)."""
    pmf = np.array([1.0])
    for p in ps:
        pmf = np.convolve(pmf, [1 - p, p])
    return pmf


def mean_field_torch(z, tiles: int):
    """E[tile count] = sum_i sigmoid(z - (i - 1/2)) in torch (its autograd gives the
    mean-field gradient)."""
    import torch
    offsets = torch.arange(1, tiles + 1, dtype=z.dtype) - 0.5
    return torch.sigmoid(z.unsqueeze(-1) - offsets).sum(-1)


# -------------------------------------------------------------------- index products
def tap_counts(x, kernel, stride, padding, groups) -> tuple[int, int]:
    """Over every (output position, tap) pair of a convolution of x [B, C, H, W]: the sum of
    the input values read and the number of non-zero ones (padding reads nothing), by torch's
    float convolution with all-ones filters (one per group)."""
    import torch
    import torch.nn.functional as F
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ones = torch.ones((groups, x.shape[1] // groups, kh, kw))

    def total(a):
        t = torch.from_numpy(np.ascontiguousarray(a, np.float32))
        return int(F.conv2d(t, ones, stride=stride, padding=padding, groups=groups)
                   .sum().round().item())

    return total(x), total(x != 0)


# ------------------------------------------------------------------------ fixed point
def sat_add(a: int, s: int, bits: int) -> int:
    """a + s clamped to a ``bits``-bit two's complement accumulator."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(hi, max(lo, a + s))


def fixed_matmul(x, w, bits):
    """Python ints: per output, inputs k ascending, each count's v adds, clamp at every add."""
    out = np.zeros((x.shape[0], w.shape[1]), object)
    for b in range(x.shape[0]):
        for n in range(w.shape[1]):
            a = 0
            for k in range(x.shape[1]):
                for _ in range(int(x[b, k])):
                    a = sat_add(a, int(w[k, n]), bits)
            out[b, n] = a
    return out


def fixed_conv2d(x, w, bits, stride, padding, groups):
    """Per output, (c, ky, kx) of its group ascending, taps on the padding skipped."""
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
                                        a = sat_add(a, int(w[oc, ci, ky, kx]), bits)
                    out[b, oc, oy, ox] = a
    return out


def fixed_conv2d_weight_grad(x, g, ksize, bits, stride, padding, groups):
    """Per weight, (b, oy, ox) ascending: the errors of the outputs its tap feeds."""
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
                                        a = sat_add(a, int(g[b, oc, oy, ox]), bits)
                    out[oc, ci, ky, kx] = a
    return out


def quantize(v, bits, per_channel, stochastic, seed):
    """Symmetric quantization element by element: scale max|row| / qmax, floor(t + 1/2) or
    floor(t + u) with u the 24-bit uniform of the seed's stream at the element's index."""
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
                u = (mix64_py(key + (c * rows.shape[1] + j + 1) * 0x9E3779B97F4A7C15) >> 40) \
                    * 2.0 ** -24
                r = np.floor(t + u)
            else:
                r = np.floor(t + 0.5)
            out[c, j] = int(min(qmax, max(-qmax, r)))
    return out.reshape(v.shape), scale
