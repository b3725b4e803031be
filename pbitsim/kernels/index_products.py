"""Index-and-accumulate: matrix products and convolutions with small-integer activations.

When an input is a binary (or tile-count) activation, the hardware never multiplies:
for every input ``k`` with value ``v > 0`` it fetches weight row ``k`` once and adds it
to the accumulators ``v`` times. These kernels do exactly that, in float32, so their
results are the hardware's results and their counts are its work:

* ``add:fp32``        = row length x sum of the activations used,
* ``weight_read:fp32`` = row length x number of non-zero activations used
  (``grad_read`` for the weight-gradient kernels, whose rows are gradients),
* ``act_read:uN``     = activations read once each (N bits: 1 for binary, 3 for 0..7),
* ``act_write:fp32`` / ``grad_write:fp32`` = results written once each; ``mul`` = 0.

The dataflow behind these counts: each activation word is read once, each fetched row is
added straight into accumulators that stay local until the result is written.

The counts have closed forms in the activations alone (:mod:`.tap_stats`), which records
them for the kernels here too.

Every kernel first lists, per output row, the weight rows it adds (repeated ``v`` times),
then sums those rows in blocks of output columns small enough to stay in cache, four
rows at a time (the block sizes are ``KERNEL_*`` of :mod:`pbitsim.config`). Each output
element is summed by one task in a fixed order, so results are identical on any number of
threads. Counts come from the lists' lengths: no per-add bookkeeping.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..config import KERNEL_COL_BLOCK as _COL_BLOCK
from ..config import KERNEL_GRAD_CACHE_BYTES as _GRAD_CACHE_BYTES
from ..config import KERNEL_ROW_BLOCK as _ROW_BLOCK
from ..network.counters import uint_dtype
from ._checks import as_array, check_levels, conv_shapes, pair
from .tap_stats import TapStats, add_index_counts

__all__ = ["index_matmul", "index_matmul_xt", "index_conv2d", "index_conv2d_weight_grad"]


@njit(inline="always", cache=True)
def _accumulate_rows(d, rows, n_rows, src, c0, c1):
    """d += sum of src[rows[p], c0:c1] for p < n_rows, four rows per pass over d."""
    n = c1 - c0
    p = 0
    while p + 4 <= n_rows:
        s0 = src[rows[p], c0:c1]
        s1 = src[rows[p + 1], c0:c1]
        s2 = src[rows[p + 2], c0:c1]
        s3 = src[rows[p + 3], c0:c1]
        for j in range(n):
            d[j] += (s0[j] + s1[j]) + (s2[j] + s3[j])
        p += 4
    while p < n_rows:
        s0 = src[rows[p], c0:c1]
        for j in range(n):
            d[j] += s0[j]
        p += 1


# ------------------------------------------------------------------------ dense products
@njit(parallel=True, cache=True)
def _row_lists(x):
    """Per row of uint8 ``x``: the column indices, each repeated x[r, k] times.

    Returns (ptr, idx, nnz, max value): row r's list is idx[ptr[r]:ptr[r + 1]].
    """
    n_rows, n_cols = x.shape
    sums = np.zeros(n_rows + 1, np.int64)
    nnz = np.zeros(n_rows, np.int64)
    vmax = np.zeros(n_rows, np.int64)
    for r in prange(n_rows):
        s = 0
        z = 0
        m = 0
        for k in range(n_cols):
            v = x[r, k]
            s += v
            z += v != 0
            m = max(m, v)
        sums[r + 1] = s
        nnz[r] = z
        vmax[r] = m
    ptr = np.cumsum(sums)
    idx = np.empty(ptr[-1], np.int32)
    for r in prange(n_rows):
        p = ptr[r]
        for k in range(n_cols):
            for _ in range(x[r, k]):
                idx[p] = k
                p += 1
    return ptr, idx, nnz.sum(), vmax.max() if n_rows else 0


@njit(parallel=True, cache=True)
def _gather_rows(ptr, idx, src, out):
    """out[r, :] = sum of src[idx[p], :] over row r's list (out starts at zero)."""
    n_rows, n_cols = out.shape
    n_cb = (n_cols + _COL_BLOCK - 1) // _COL_BLOCK
    n_rb = (n_rows + _ROW_BLOCK - 1) // _ROW_BLOCK
    for t in prange(n_cb * n_rb):
        c0 = (t % n_cb) * _COL_BLOCK
        c1 = min(n_cols, c0 + _COL_BLOCK)
        r0 = (t // n_cb) * _ROW_BLOCK
        for r in range(r0, min(n_rows, r0 + _ROW_BLOCK)):
            lo = ptr[r]
            _accumulate_rows(out[r, c0:c1], idx[lo:], ptr[r + 1] - lo, src, c0, c1)


def _dense(x_rows: np.ndarray, src: np.ndarray, tiles, name: str):
    ptr, idx, nnz, vmax = _row_lists(x_rows)
    levels = check_levels(name, vmax, tiles)
    out = np.zeros((x_rows.shape[0], src.shape[1]), np.float32)
    _gather_rows(ptr, idx, src, out)
    return out, int(ptr[-1]), int(nnz), uint_dtype(levels)


def index_matmul(x, w, counter=None, *, tiles=None) -> np.ndarray:
    """``x @ w`` for uint8 activations x [B, K] (0/1 or tile counts 0..M) and float32 w [K, N].

    Adds weight row k to output row b x[b, k] times; never multiplies.

    Parameters
    ----------
    x : ndarray of uint8, [B, K]
        Binary activations or tile counts.
    w : ndarray of float32, [K, N]
        Weights, one row per input.
    counter : OpCounter, optional
        Receives the counts.
    tiles : int, optional
        M: bounds x and sets the activation width counted; otherwise x's maximum does.

    Returns
    -------
    ndarray of float32, [B, N]

    Counts
    ------
    ``add:fp32`` = N x sum(x); ``weight_read:fp32`` = N x nnz(x) (a row fetched once per nonzero
    input); ``act_read:u<bits(M)>`` = x.size; ``act_write:fp32`` = B x N. No ``mul``.
    """
    x = as_array("x", x, np.uint8, 2)
    w = as_array("w", w, np.float32, 2)
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x has {x.shape[1]} columns but w has {w.shape[0]} rows")
    out, total, nnz, act = _dense(x, w, tiles, "x")
    add_index_counts(counter, TapStats(total, nnz, act), "forward", w.shape[1], x.size, out.size)
    return out


def index_matmul_xt(x, g, counter=None, *, tiles=None) -> np.ndarray:
    """``x.T @ g``: the weight gradient of a dense layer whose input x [B, K] is uint8.

    Adds gradient row b to weight-gradient row k x[b, k] times; never multiplies.

    Parameters
    ----------
    x : ndarray of uint8, [B, K]
        The layer's input counts.
    g : ndarray of float32, [B, N]
        The gradient at the layer's output.
    counter : OpCounter, optional
        Receives the counts.
    tiles : int, optional
        M, as for :func:`index_matmul`.

    Returns
    -------
    ndarray of float32, [K, N]

    Counts
    ------
    ``add:fp32`` = N x sum(x); ``grad_read:fp32`` = N x nnz(x); ``act_read:u<bits(M)>`` =
    x.size; ``grad_write:fp32`` = K x N (once per call). No ``mul``.
    """
    x = as_array("x", x, np.uint8, 2)
    g = as_array("g", g, np.float32, 2)
    if x.shape[0] != g.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but g has {g.shape[0]}")
    out, total, nnz, act = _dense(np.ascontiguousarray(x.T), g, tiles, "x")
    add_index_counts(counter, TapStats(total, nnz, act), "weight_grad", g.shape[1], x.size,
                     out.size)
    return out


# -------------------------------------------------------------------------- convolutions
@njit(parallel=True, cache=True)
def _pixel_lists(xp, groups):
    """Per (pixel, group) of channel-last xp [B, Hp, Wp, C]: its non-zero channels.

    Returns (ptr, chan, val, vmax): list q = ((b * Hp + h) * Wp + w) * groups + g holds
    group-local channels chan[ptr[q]:ptr[q + 1]] with values val[...].
    """
    n_b, hp, wp, c = xp.shape
    cg = c // groups
    n_pix = n_b * hp * wp
    lens = np.zeros(n_pix * groups + 1, np.int64)
    vmax = np.zeros(n_pix, np.int64)
    for q in prange(n_pix):
        b = q // (hp * wp)
        h = (q // wp) % hp
        w = q % wp
        m = 0
        for g in range(groups):
            z = 0
            for k in range(cg):
                v = xp[b, h, w, g * cg + k]
                z += v != 0
                m = max(m, v)
            lens[q * groups + g + 1] = z
        vmax[q] = m
    ptr = np.cumsum(lens)
    chan = np.empty(ptr[-1], np.int32)
    val = np.empty(ptr[-1], np.uint8)
    for q in prange(n_pix):
        b = q // (hp * wp)
        h = (q // wp) % hp
        w = q % wp
        p = ptr[q * groups]
        for g in range(groups):
            for k in range(cg):
                v = xp[b, h, w, g * cg + k]
                if v:
                    chan[p] = k
                    val[p] = v
                    p += 1
    return ptr, chan, val, vmax.max() if n_pix else 0


@njit(parallel=True, cache=True)
def _conv_gather(ptr, chan, val, vmax, hp, wp, groups, kh, kw, sh, sw, w_rows, out_t):
    """out_t[b, oh, ow, group g] = sum of the weight rows of every non-zero input tap.

    w_rows[((g * kh + i) * kw + j) * Cg + c] is the O/groups weights of input channel c at
    tap (i, j). Returns per-task (adds / row length, distinct rows fetched).
    """
    n_b, ho, wo, o = out_t.shape
    og = o // groups
    cg = w_rows.shape[0] // (groups * kh * kw)
    counts = np.zeros((n_b * ho, 2), np.int64)
    for t in prange(n_b * ho):
        b = t // ho
        oh = t % ho
        rows = np.empty(kh * kw * cg * max(vmax, 1), np.int32)
        n_add = 0
        n_read = 0
        for ow in range(wo):
            for g in range(groups):
                n = 0
                for i in range(kh):
                    for j in range(kw):
                        q = ((b * hp + oh * sh + i) * wp + ow * sw + j) * groups + g
                        base = ((g * kh + i) * kw + j) * cg
                        for p in range(ptr[q], ptr[q + 1]):
                            for _ in range(val[p]):
                                rows[n] = base + chan[p]
                                n += 1
                        n_read += ptr[q + 1] - ptr[q]
                n_add += n
                _accumulate_rows(out_t[b, oh, ow, g * og:(g + 1) * og], rows, n, w_rows, 0, og)
        counts[t, 0] = n_add
        counts[t, 1] = n_read
    return counts.sum(axis=0)


def _conv_input(x, stride, padding, groups, tiles, o, cg, kh, kw):
    """Checks shared by the conv kernels; returns the padded channel-last input's lists."""
    stride, padding = pair("stride", stride), pair("padding", padding)
    groups = int(groups)
    ho, wo = conv_shapes(x.shape, o, cg, kh, kw, stride, padding, groups)
    ph, pw = padding
    n_b, c, h, w = x.shape
    xp = np.zeros((n_b, h + 2 * ph, w + 2 * pw, c), np.uint8)
    xp[:, ph:ph + h, pw:pw + w, :] = x.transpose(0, 2, 3, 1)
    ptr, chan, val, vmax = _pixel_lists(xp, groups)
    levels = check_levels("x", vmax, tiles)
    return xp.shape, ptr, chan, val, int(vmax), stride, padding, groups, ho, wo, uint_dtype(levels)


def index_conv2d(x, w, stride=1, padding=0, counter=None, *, groups=1, tiles=None) -> np.ndarray:
    """``conv2d(x, w)`` for uint8 activations x [B, C, H, W] and float32 w [O, C/groups, kh, kw].

    Zero padding, integer or pair stride/padding, grouped convolutions. For every output
    position it adds, per non-zero input tap (c, i, j) of value v, the O weights w[:, c, i, j]
    v times; no im2col, no multiply.

    Parameters
    ----------
    x : ndarray of uint8, [B, C, H, W]
        Binary activations or tile counts.
    w : ndarray of float32, [O, C/groups, kh, kw]
        Weights.
    stride, padding : int or (int, int)
    counter : OpCounter, optional
        Receives the counts.
    groups : int
        Grouped convolution, as ``torch.nn.Conv2d``.
    tiles : int, optional
        M, as for :func:`index_matmul`.

    Returns
    -------
    ndarray of float32, [B, O, H', W']

    Counts
    ------
    Over the (output position, tap) pairs that land inside the image (padding taps read zeros
    and are skipped): ``add:fp32`` = O/groups x the sum of their input values;
    ``weight_read:fp32`` = O/groups x the number of them with a nonzero input;
    ``act_read:u<bits(M)>`` = x.size; ``act_write:fp32`` = the output size. No ``mul``.
    :func:`conv2d_tap_stats` gives the same numbers in closed form.
    """
    x = as_array("x", x, np.uint8, 4)
    w = as_array("w", w, np.float32, 4)
    o, cg, kh, kw = w.shape
    (_, hp, wp, _), ptr, chan, val, vmax, (sh, sw), _, groups, ho, wo, act = _conv_input(
        x, stride, padding, groups, tiles, o, cg, kh, kw)
    og = o // groups
    # [O, Cg, kh, kw] -> rows ((g, i, j, c), og): one contiguous row per tap and channel
    w_rows = np.ascontiguousarray(
        w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1)).reshape(-1, og)
    out_t = np.zeros((x.shape[0], ho, wo, o), np.float32)
    n_add, n_read = _conv_gather(ptr, chan, val, vmax, hp, wp, groups, kh, kw, sh, sw,
                                 w_rows, out_t) if out_t.size else (0, 0)
    add_index_counts(counter, TapStats(int(n_add), int(n_read), act), "forward", og, x.size,
                     out_t.size)
    return np.ascontiguousarray(out_t.transpose(0, 3, 1, 2))


@njit(parallel=True, cache=True)
def _channel_lists(x, ph, pw):
    """Per (channel, image) of x [B, C, H, W]: its non-zero pixels and values.

    List q = c * B + b holds padded coordinates rows[ptr[q]:ptr[q + 1]] (h + ph) and
    cols[...] (w + pw) with values val[...]; one channel's pixels in a run of images are
    contiguous.
    """
    n_b, n_c, h, w = x.shape
    lens = np.zeros(n_c * n_b + 1, np.int64)
    for q in prange(n_c * n_b):
        c = q // n_b
        b = q % n_b
        z = 0
        for i in range(h):
            for j in range(w):
                z += x[b, c, i, j] != 0
        lens[q + 1] = z
    ptr = np.cumsum(lens)
    rows = np.empty(ptr[-1], np.int32)
    cols = np.empty(ptr[-1], np.int32)
    val = np.empty(ptr[-1], np.uint8)
    for q in prange(n_c * n_b):
        c = q // n_b
        b = q % n_b
        p = ptr[q]
        for i in range(h):
            for j in range(w):
                v = x[b, c, i, j]
                if v:
                    rows[p] = i + ph
                    cols[p] = j + pw
                    val[p] = v
                    p += 1
    return ptr, rows, cols, val


@njit(parallel=True, cache=True)
def _conv_weight_grad(ptr, prow, pcol, val, vmax, n_b, images, groups, kh, kw, sh, sw, ho, wo,
                      g_rows, dw_rows):
    """dw_rows[(g, i, j, c)] = sum of gradient rows g_rows[(b, oh, ow)] over the output
    positions whose tap (i, j) reads a non-zero input of channel g*Cg + c (repeated by value).

    Images go in runs of ``images`` (their gradient rows stay in cache); within a run one
    task per input channel walks that channel's non-zero pixels once per tap.
    Returns (adds / row length, distinct gradient rows fetched).
    """
    og = dw_rows.shape[1]
    cg = dw_rows.shape[0] // (groups * kh * kw)
    n_c = groups * cg
    counts = np.zeros((n_c, 2), np.int64)
    longest = 0
    for ch in range(n_c):
        for b0 in range(0, n_b, images):
            b1 = min(n_b, b0 + images)
            longest = max(longest, ptr[ch * n_b + b1] - ptr[ch * n_b + b0])
    unit_stride = sh == 1 and sw == 1
    for b0 in range(0, n_b, images):
        b1 = min(n_b, b0 + images)
        for ch in prange(n_c):
            g = ch // cg
            c = ch % cg
            rows = np.empty(longest * max(vmax, 1), np.int32)
            for i in range(kh):
                for j in range(kw):
                    n = 0
                    n_read = 0
                    for b in range(b0, b1):
                        for p in range(ptr[ch * n_b + b], ptr[ch * n_b + b + 1]):
                            y = prow[p] - i
                            x = pcol[p] - j
                            if unit_stride:
                                ok = y >= 0 and x >= 0 and y < ho and x < wo
                            else:
                                ok = y >= 0 and x >= 0 and y % sh == 0 and x % sw == 0
                                y //= sh
                                x //= sw
                                ok = ok and y < ho and x < wo
                            if ok:
                                n_read += 1
                                r = (b * ho + y) * wo + x
                                for _ in range(val[p]):
                                    rows[n] = r
                                    n += 1
                    counts[ch, 0] += n
                    counts[ch, 1] += n_read
                    dst = ((g * kh + i) * kw + j) * cg + c
                    _accumulate_rows(dw_rows[dst], rows, n, g_rows, g * og, (g + 1) * og)
    return counts.sum(axis=0)


def index_conv2d_weight_grad(x, g, kernel_size, stride=1, padding=0, counter=None, *,
                             groups=1, tiles=None) -> np.ndarray:
    """Weight gradient of a conv layer whose input x [B, C, H, W] is uint8.

    g [B, O, H', W'] is float32, the gradient at the layer's output. For every non-zero
    input x[b, c, y, x] = v and every tap (i, j) that reads it, adds the O/groups gradients
    at the output position it feeds to dW[:, c, i, j], v times. Equals
    ``torch.nn.grad.conv2d_weight``; returns float32 [O, C/groups, kh, kw].

    Counts
    ------
    As :func:`index_conv2d`, with ``grad_read:fp32`` in place of ``weight_read`` and
    ``grad_write:fp32`` = the weight-gradient size (once per call) in place of ``act_write``.
    """
    x = as_array("x", x, np.uint8, 4)
    g = as_array("g", g, np.float32, 4)
    kh, kw = pair("kernel_size", kernel_size)
    stride, padding = pair("stride", stride), pair("padding", padding)
    groups = int(groups)
    n_b, c, h, w = x.shape
    o = g.shape[1]
    if groups < 1 or c % groups:
        raise ValueError(f"groups={groups} must divide the {c} input channels")
    ho, wo = conv_shapes(x.shape, o, c // groups, kh, kw, stride, padding, groups)
    if g.shape != (n_b, o, ho, wo):
        raise ValueError(f"g must have shape {(n_b, o, ho, wo)} for this x, got {g.shape}")
    ptr, prow, pcol, val = _channel_lists(x, padding[0], padding[1])
    vmax = int(val.max()) if val.size else 0
    levels = check_levels("x", vmax, tiles)
    og, cg = o // groups, c // groups
    g_rows = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, o)
    dw_rows = np.zeros((groups * kh * kw * cg, og), np.float32)
    images = max(1, _GRAD_CACHE_BYTES // max(1, 4 * ho * wo * o))
    n_add, n_read = _conv_weight_grad(ptr, prow, pcol, val, vmax, n_b, images, groups, kh, kw,
                                      stride[0], stride[1], ho, wo, g_rows, dw_rows)
    add_index_counts(counter, TapStats(int(n_add), int(n_read), uint_dtype(levels)),
                     "weight_grad", og, x.size, dw_rows.size)
    return np.ascontiguousarray(
        dw_rows.reshape(groups, kh, kw, cg, og).transpose(0, 4, 3, 1, 2)).reshape(o, cg, kh, kw)
