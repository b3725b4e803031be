"""Fixed-point index-and-accumulate: integer weights added into saturating integer accumulators.

The integer twins of :mod:`.index_products` (same products, same counts, at the widths of a
fixed-point datapath, :mod:`pbitsim.precision`; the words come from :mod:`.quantizer`):

* :func:`fixed_index_matmul`, :func:`fixed_index_matmul_xt`, :func:`fixed_index_conv2d`,
  :func:`fixed_index_conv2d_weight_grad`: for every input count ``v > 0`` the integer row of
  weights (or of gradient words) is added ``v`` times into ``acc_bits``-bit two's complement
  accumulators that **saturate at every add**;
* :func:`acc_range`, :func:`word_dtype`: an accumulator's range and its words' storage.

Accumulation order (it matters once a sum saturates, so it is part of the definition): an
output element adds its terms in ascending input order, each count's ``v`` adds in a row:
``index_matmul`` over ``k``; ``index_matmul_xt`` over the batch row ``b``; ``index_conv2d``
over ``(c, ky, kx)`` of the output's group; ``index_conv2d_weight_grad`` over
``(b, oy, ox)``. One task owns each output element, so results are identical on any number of
threads. When no partial sum can reach the accumulator's range (the wrapper bounds
``max|word| x`` the largest possible sum of counts), the adds skip the saturation test: the
same integers, faster.

Words are held as int32 when the accumulator has at most 32 bits, else int64.

Counts (as the fp32 kernels', at the given widths; no ``mul``): ``add:int<acc_bits>`` = row
length x the sum of the counts used; ``weight_read:int<word_bits>`` (forward) or
``grad_read:int<word_bits>`` (weight gradient) = row length x the non-zero counts used;
``act_read:u<bits(M)>`` = counts read; ``act_write:int<acc_bits>`` / ``grad_write:int<acc_bits>``
= sums written.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..network.counters import uint_dtype
from ._checks import as_array, check_bits, check_levels, conv_shapes, pair
from .tap_stats import TapStats, add_index_counts

__all__ = ["acc_range", "word_dtype", "fixed_index_matmul", "fixed_index_matmul_xt",
           "fixed_index_conv2d", "fixed_index_conv2d_weight_grad"]


def acc_range(acc_bits: int) -> tuple[int, int]:
    """``(lo, hi)`` of an ``acc_bits``-bit two's complement accumulator."""
    a = check_bits("acc_bits", acc_bits)
    return -(1 << (a - 1)), (1 << (a - 1)) - 1


def word_dtype(acc_bits: int):
    """Storage of the words and sums of a datapath with this accumulator: int32 up to 32 bits."""
    return np.int32 if check_bits("acc_bits", acc_bits) <= 32 else np.int64


@njit(inline="always", cache=True)
def _sat_add(acc, src, v, lo, hi, saturate):
    """Add the row ``src`` into ``acc`` ``v`` times; with ``saturate`` every add is clamped to
    [lo, hi].

    ``v`` adds of one word clamped one at a time give the clamp of ``a + v * s`` (the partial
    sums move one way, so only the bound on that side can be reached), which is what int32
    words compute: in int32 lanes when nothing can overflow them (no saturation possible, or
    sums below 2^24 and ``v <= 64``: ``|a + v s| < 2^30``), else in int64. 64-bit words add one
    at a time, overflow-free (the tests compare against ``hi - s`` and ``lo - s``, which cannot
    overflow)."""
    if hi <= 2147483647 and (not saturate or hi < 16777216):  # int32 lanes
        v32 = np.int32(v)
        lo32, hi32 = np.int32(lo), np.int32(hi)
        if saturate:
            for j in range(acc.shape[0]):
                acc[j] = min(max(np.int32(acc[j] + v32 * src[j]), lo32), hi32)
        else:
            for j in range(acc.shape[0]):
                acc[j] = np.int32(acc[j] + v32 * src[j])
    elif not saturate:
        for j in range(acc.shape[0]):
            acc[j] += v * src[j]
    elif hi <= 2147483647:  # int32 words: v * s fits int64
        for j in range(acc.shape[0]):
            t = np.int64(acc[j]) + np.int64(v) * np.int64(src[j])
            acc[j] = min(max(t, lo), hi)
    else:
        for _ in range(v):
            for j in range(acc.shape[0]):
                a = np.int64(acc[j])
                s = np.int64(src[j])
                if s >= 0:
                    acc[j] = hi if a > hi - s else a + s
                else:
                    acc[j] = lo if a < lo - s else a + s


@njit(inline="always", cache=True)
def _add_taps(x, b, ch, oy, ox, sh, sw, ph, pw, taps, fixed, into_taps, lo, hi, saturate):
    """The in-image taps (ky, kx ascending) of output position (oy, ox) on the plane x[b, ch]:
    a tap of count v > 0 adds the row ``fixed`` into ``taps[ky, kx]`` (``into_taps``: a
    weight gradient) or ``taps[ky, kx]`` into ``fixed`` (a forward sum), v times, saturating.
    Taps on the zero padding are skipped. Returns (sum of the counts, non-zero counts)."""
    h, w = x.shape[2], x.shape[3]
    kh, kw = taps.shape[0], taps.shape[1]
    s = 0
    z = 0
    for ky in range(kh):
        iy = oy * sh - ph + ky
        if iy < 0 or iy >= h:
            continue
        for kx in range(kw):
            ix = ox * sw - pw + kx
            if ix < 0 or ix >= w:
                continue
            v = x[b, ch, iy, ix]
            if v:
                s += v
                z += 1
                if into_taps:
                    _sat_add(taps[ky, kx], fixed, v, lo, hi, saturate)
                else:
                    _sat_add(fixed, taps[ky, kx], v, lo, hi, saturate)
    return s, z


@njit(parallel=True, cache=True)
def _fixed_matmul(x, w, lo, hi, saturate, out, stats):
    """out[b] = saturating sum over k ascending of w[k] x[b, k] times; stats[b] = (sum, nnz).
    (With x = a transposed count matrix and w the per-sample errors it is the weight gradient's
    sum over samples, :func:`fixed_index_matmul_xt`.)"""
    n_b, n_k = x.shape
    for b in prange(n_b):
        acc = out[b]
        s = 0
        z = 0
        for k in range(n_k):
            v = x[b, k]
            if v:
                s += v
                z += 1
                _sat_add(acc, w[k], v, lo, hi, saturate)
        stats[b, 0] = s
        stats[b, 1] = z


@njit(parallel=True, cache=True)
def _fixed_conv(x, w_t, groups, sh, sw, ph, pw, lo, hi, saturate, out_t, stats):
    """out_t[b, oy, ox, g*Og:(g+1)*Og] = saturating sum over (c, ky, kx) ascending of
    w_t[g, c, ky, kx] x[b, g*Cg + c, iy, ix] times (taps on the padding skipped)."""
    n_b = x.shape[0]
    cg = w_t.shape[1]
    og = w_t.shape[4]
    _, ho, wo, _ = out_t.shape
    for b in prange(n_b):
        s = 0
        z = 0
        for oy in range(ho):
            for ox in range(wo):
                for gi in range(groups):
                    acc = out_t[b, oy, ox, gi * og:(gi + 1) * og]
                    for c in range(cg):
                        ds, dz = _add_taps(x, b, gi * cg + c, oy, ox, sh, sw, ph, pw, w_t[gi, c],
                                           acc, False, lo, hi, saturate)
                        s += ds
                        z += dz
        stats[b, 0] = s
        stats[b, 1] = z


@njit(parallel=True, cache=True)
def _fixed_conv_wgrad(x, g_t, groups, sh, sw, ph, pw, lo, hi, saturate, out_t, stats):
    """out_t[gi, c, ky, kx] = saturating sum over (b, oy, ox) ascending of the gradient words
    g_t[b, oy, ox, gi*Og:(gi+1)*Og], x[b, gi*Cg + c, iy, ix] times."""
    n_b, n_c = x.shape[0], x.shape[1]
    _, ho, wo, _ = g_t.shape
    cg = n_c // groups
    og = out_t.shape[4]
    for t in prange(n_c):
        gi = t // cg
        c = t % cg
        s = 0
        z = 0
        for b in range(n_b):
            for oy in range(ho):
                for ox in range(wo):
                    ds, dz = _add_taps(x, b, t, oy, ox, sh, sw, ph, pw, out_t[gi, c],
                                       g_t[b, oy, ox, gi * og:(gi + 1) * og], True, lo, hi,
                                       saturate)
                    s += ds
                    z += dz
        stats[t, 0] = s
        stats[t, 1] = z


# ---------------------------------------------------------------------------- wrappers
def _words(name: str, a, acc_bits: int, ndim: int) -> np.ndarray:
    """Integer words as the accumulator's storage dtype (values checked against its range)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers, got {arr.dtype.name}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    lo, hi = acc_range(acc_bits)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise ValueError(f"{name} holds words outside the {acc_bits}-bit accumulator's range")
    return np.ascontiguousarray(arr, word_dtype(acc_bits))


def _saturates(words: np.ndarray, max_sum: int, acc_bits: int) -> bool:
    """Whether some partial sum may reach the accumulator's limits: max|word| x max_sum."""
    peak = int(np.abs(words.astype(np.int64)).max()) if words.size else 0
    return peak * int(max_sum) >= (1 << (acc_bits - 1)) - 1


def _record(counter, stats, kind, row_len, n_act, n_out, act, word_bits, acc_bits):
    """The counts of a product from its kernel's per-task (sum, non-zero) ``stats``."""
    add_index_counts(counter, TapStats(int(stats[:, 0].sum()), int(stats[:, 1].sum()), act),
                     kind, row_len, n_act, n_out, acc=f"int{acc_bits}", word=f"int{word_bits}")


def _levels(x, tiles):
    return check_levels("x", int(x.max()) if x.size else 0, tiles)


def fixed_index_matmul(x, w, acc_bits: int, counter=None, *, word_bits: int, tiles=None):
    """``x @ w`` in integers: uint8 counts x [B, K], integer weights w [K, N].

    Parameters
    ----------
    x : ndarray of uint8, [B, K]
        Tile counts.
    w : ndarray of integers, [K, N]
        Weights (e.g. from :func:`quantize` of the transposed float weights).
    acc_bits : int
        Accumulator width; every add saturates to its range.
    counter : OpCounter, optional
        Receives the counts (module docstring), weights read at ``word_bits``.
    word_bits : int
        Width of a weight word (for the counts; ``w`` must fit the accumulator).
    tiles : int, optional
        M: bounds x and sets the activation width counted.

    Returns
    -------
    ndarray of int32 (``acc_bits <= 32``) or int64, [B, N]
    """
    x = as_array("x", x, np.uint8, 2)
    acc_bits = check_bits("acc_bits", acc_bits)
    word_bits = check_bits("word_bits", word_bits)
    w = _words("w", w, acc_bits, 2)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} columns but w has {w.shape[0]} rows")
    levels = _levels(x, tiles)
    lo, hi = acc_range(acc_bits)
    out = np.zeros((x.shape[0], w.shape[1]), w.dtype)
    stats = np.zeros((x.shape[0], 2), np.int64)
    sat = _saturates(w, levels * x.shape[1], acc_bits)
    _fixed_matmul(x, w, np.int64(lo), np.int64(hi), sat, out, stats)
    _record(counter, stats, "forward", w.shape[1], x.size, out.size, uint_dtype(levels),
            word_bits, acc_bits)
    return out


def fixed_index_matmul_xt(x, g, acc_bits: int, counter=None, *, word_bits: int, tiles=None):
    """``x.T @ g`` in integers: the weight gradient of a dense index layer on integer errors.

    Parameters
    ----------
    x : ndarray of uint8, [B, K]
        The layer's input counts.
    g : ndarray of integers, [B, N]
        Quantized errors at the layer's output.
    acc_bits, counter, word_bits, tiles
        As for :func:`fixed_index_matmul` (``word_bits``: an error word's width, counted as
        ``grad_read``).

    Returns
    -------
    ndarray of int32 or int64, [K, N]
    """
    x = as_array("x", x, np.uint8, 2)
    acc_bits = check_bits("acc_bits", acc_bits)
    word_bits = check_bits("word_bits", word_bits)
    g = _words("g", g, acc_bits, 2)
    if x.shape[0] != g.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but g has {g.shape[0]}")
    levels = _levels(x, tiles)
    lo, hi = acc_range(acc_bits)
    out = np.zeros((x.shape[1], g.shape[1]), g.dtype)
    stats = np.zeros((x.shape[1], 2), np.int64)
    sat = _saturates(g, levels * x.shape[0], acc_bits)
    _fixed_matmul(np.ascontiguousarray(x.T), g, np.int64(lo), np.int64(hi), sat, out, stats)
    _record(counter, stats, "weight_grad", g.shape[1], x.size, out.size, uint_dtype(levels),
            word_bits, acc_bits)
    return out


def _conv_args(x, o, cg, kh, kw, stride, padding, groups):
    x = as_array("x", x, np.uint8, 4)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise ValueError(f"groups must be an integer, got {groups!r}")
    stride, padding = pair("stride", stride), pair("padding", padding)
    ho, wo = conv_shapes(x.shape, o, cg, kh, kw, stride, padding, int(groups))
    return x, stride, padding, int(groups), ho, wo


def fixed_index_conv2d(x, w, acc_bits: int, stride=1, padding=0, counter=None, *,
                       word_bits: int, groups: int = 1, tiles=None):
    """``conv2d(x, w)`` in integers: uint8 counts x [B, C, H, W], integer w [O, C/groups, kh, kw].

    Parameters
    ----------
    x : ndarray of uint8, [B, C, H, W]
        Tile counts.
    w : ndarray of integers, [O, C/groups, kh, kw]
        Weights.
    acc_bits : int
        Accumulator width (saturating adds).
    stride, padding : int or pair of ints
        Geometry; taps on the zero padding are skipped (not counted).
    counter, word_bits, tiles
        As for :func:`fixed_index_matmul`.
    groups : int
        Grouped convolution.

    Returns
    -------
    ndarray of int32 or int64, [B, O, Ho, Wo]
    """
    acc_bits = check_bits("acc_bits", acc_bits)
    word_bits = check_bits("word_bits", word_bits)
    w = _words("w", w, acc_bits, 4)
    o, cg, kh, kw = w.shape
    x, (sh, sw), (ph, pw), groups, ho, wo = _conv_args(x, o, cg, kh, kw, stride, padding,
                                                       groups)
    levels = _levels(x, tiles)
    og = o // groups
    w_t = np.ascontiguousarray(w.reshape(groups, og, cg, kh, kw).transpose(0, 2, 3, 4, 1))
    lo, hi = acc_range(acc_bits)
    out_t = np.zeros((x.shape[0], ho, wo, o), w.dtype)
    stats = np.zeros((x.shape[0], 2), np.int64)
    sat = _saturates(w, levels * cg * kh * kw, acc_bits)
    _fixed_conv(x, w_t, groups, sh, sw, ph, pw, np.int64(lo), np.int64(hi), sat, out_t, stats)
    _record(counter, stats, "forward", og, x.size, out_t.size, uint_dtype(levels), word_bits,
            acc_bits)
    return np.ascontiguousarray(out_t.transpose(0, 3, 1, 2))


def fixed_index_conv2d_weight_grad(x, g, kernel_size, acc_bits: int, stride=1, padding=0,
                                   counter=None, *, word_bits: int, groups: int = 1,
                                   tiles=None):
    """The weight gradient of :func:`fixed_index_conv2d` on integer errors ``g``.

    Parameters
    ----------
    x : ndarray of uint8, [B, C, H, W]
        The layer's input counts.
    g : ndarray of integers, [B, O, Ho, Wo]
        Quantized errors at its output.
    kernel_size : int or pair of ints
        (kh, kw).
    acc_bits, stride, padding, counter, word_bits, groups, tiles
        As for :func:`fixed_index_conv2d` (``word_bits``: an error word's width).

    Returns
    -------
    ndarray of int32 or int64, [O, C/groups, kh, kw]
    """
    acc_bits = check_bits("acc_bits", acc_bits)
    word_bits = check_bits("word_bits", word_bits)
    g = _words("g", g, acc_bits, 4)
    kh, kw = pair("kernel_size", kernel_size)
    o = g.shape[1]
    x_arr = as_array("x", x, np.uint8, 4)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 \
            or x_arr.shape[1] % int(groups):
        raise ValueError(f"groups={groups!r} must divide the {x_arr.shape[1]} input channels")
    cg = x_arr.shape[1] // int(groups)
    x, (sh, sw), (ph, pw), groups, ho, wo = _conv_args(x_arr, o, cg, kh, kw, stride, padding,
                                                       groups)
    if g.shape != (x.shape[0], o, ho, wo):
        raise ValueError(f"g must have shape {(x.shape[0], o, ho, wo)}, got {g.shape}")
    levels = _levels(x, tiles)
    og = o // groups
    g_t = np.ascontiguousarray(g.transpose(0, 2, 3, 1))
    lo, hi = acc_range(acc_bits)
    out_t = np.zeros((groups, cg, kh, kw, og), g.dtype)
    stats = np.zeros((x.shape[1], 2), np.int64)
    sat = _saturates(g, levels * x.shape[0] * ho * wo, acc_bits)
    _fixed_conv_wgrad(x, g_t, groups, sh, sw, ph, pw, np.int64(lo), np.int64(hi), sat,
                      out_t, stats)
    _record(counter, stats, "weight_grad", og, x.size, out_t.size, uint_dtype(levels),
            word_bits, acc_bits)
    return np.ascontiguousarray(out_t.transpose(0, 4, 1, 2, 3).reshape(o, cg, kh, kw))
