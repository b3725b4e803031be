"""Tap statistics: the counts of an index-and-accumulate product, in closed form.

An index product (:mod:`.index_products`, :mod:`.fixed_products`) fetches, per output row, one
weight row for every non-zero activation it reads and adds it ``v`` times for a value ``v``.
Its work therefore has closed forms in the activations alone: per output row, the sum and the
number of non-zero activations it reads; for a convolution each input pixel is read by
``cover_h(y) * cover_w(x)`` (output, tap) pairs. :func:`matmul_tap_stats` and
:func:`conv2d_tap_stats` compute them without running a kernel (one pass over the
activations), and :func:`add_index_counts` records them: for the kernels, and for the dense
execution path of the torch bridge, which gets the same counts from the same functions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..config import KERNEL_STATS_PLANES as _STATS_PLANES
from ..network.counters import uint_dtype
from ._checks import as_array, check_levels, conv_shapes, pair

__all__ = ["TapStats", "matmul_tap_stats", "conv2d_tap_stats", "add_index_counts"]


class TapStats(NamedTuple):
    """What an index-and-accumulate product reads, per element of a fetched row.

    ``adds``: the activation values summed over every (output, input) pair the product
    uses (a row is added once per unit of value); ``reads``: the number of those pairs whose
    activation is non-zero (a row is fetched once per non-zero activation); ``act``: the
    activation width (``uN``).
    """

    adds: int
    reads: int
    act: str


_PRODUCT_KINDS = {"forward": ("weight_read", "act_write"),
                  "weight_grad": ("grad_read", "grad_write")}


def add_index_counts(counter, stats: TapStats, kind: str, row_len: int, n_act: int,
                     n_out: int, *, acc: str = "fp32", word: str = "fp32") -> None:
    """Record the work of an index-and-accumulate product with these ``stats``.

    Parameters
    ----------
    counter : OpCounter or None
        Where the counts go (nothing is recorded when None).
    stats : TapStats
        From :func:`matmul_tap_stats` / :func:`conv2d_tap_stats`, or a kernel's own lists.
    kind : {'forward', 'weight_grad'}
        Weight rows (forward) or gradient rows (weight gradient) are fetched and added.
    row_len : int
        Length of one fetched row (output columns, or output channels per group).
    n_act : int
        Activations read (each once).
    n_out : int
        Results written (each once).
    acc, word : str
        The accumulators' and the fetched rows' types: ``fp32`` (the float kernels), or
        ``int<acc_bits>`` and ``int<word_bits>`` (the fixed-point kernels).

    Counts
    ------
    ``add:<acc>`` = row_len x stats.adds; ``weight_read:<word>`` (forward) or
    ``grad_read:<word>`` (weight_grad) = row_len x stats.reads; ``act_read:<stats.act>`` =
    n_act; ``act_write:<acc>`` (forward) or ``grad_write:<acc>`` (weight_grad) = n_out. No
    ``mul``.
    """
    if counter is None:
        return
    read, write = _PRODUCT_KINDS[kind]
    counter.add("add", int(row_len) * int(stats.adds), acc)
    counter.add(read, int(row_len) * int(stats.reads), word)
    counter.add("act_read", int(n_act), stats.act)
    counter.add(write, int(n_out), acc)


@njit(parallel=True, cache=True)
def _weighted_stats(x2, cover):
    """Over planes x2 [P, L]: sum of x * cover, of (x != 0) * cover, and max(x), cover [L].

    The planes are summed per position first (a vectorised pass in tasks of a fixed number
    of planes), then weighted. Integer sums: the same on any thread count.
    """
    n_p, n = x2.shape
    n_t = (n_p + _STATS_PLANES - 1) // _STATS_PLANES
    part = np.zeros((n_t, 3), np.int64)
    for t in prange(n_t):
        s = np.zeros(n, np.int32)
        z = np.zeros(n, np.int32)
        m = np.zeros(n, np.uint8)
        for q in range(t * _STATS_PLANES, min(n_p, (t + 1) * _STATS_PLANES)):
            row = x2[q]
            for j in range(n):
                v = row[j]
                s[j] += v
                z[j] += v != 0
                m[j] = max(m[j], v)
        a = 0
        r = 0
        for j in range(n):
            a += cover[j] * s[j]
            r += cover[j] * z[j]
        part[t, 0] = a
        part[t, 1] = r
        part[t, 2] = m.max() if n else 0
    return part[:, 0].sum(), part[:, 1].sum(), part[:, 2].max() if n_t else 0


def _cover(size: int, out: int, k: int, stride: int, padding: int) -> np.ndarray:
    """Per input position along one axis: how many (output, tap) pairs read it."""
    cover = np.zeros(size, np.int64)
    for t in range(k):
        pos = np.arange(out) * stride - padding + t
        np.add.at(cover, pos[(pos >= 0) & (pos < size)], 1)
    return cover


def matmul_tap_stats(x, *, tiles=None) -> TapStats:
    """The :class:`TapStats` of ``index_matmul(x, w)`` (and of ``index_matmul_xt(x, g)``).

    Parameters
    ----------
    x : ndarray of uint8, shape (B, K)
        Activations (0/1 or tile counts 0..M).
    tiles : int, optional
        M: bounds x (ValueError beyond it) and sets the activation width; else x's maximum.

    Returns
    -------
    TapStats
        ``adds`` = sum of x, ``reads`` = number of non-zero entries, ``act`` the width.
    """
    x = as_array("x", x, np.uint8, 2)
    adds, reads, vmax = _weighted_stats(x, np.ones(x.shape[1], np.int64))
    return TapStats(int(adds), int(reads), uint_dtype(check_levels("x", vmax, tiles)))


def conv2d_tap_stats(x, kernel_size, stride=1, padding=0, *, tiles=None) -> TapStats:
    """The :class:`TapStats` of ``index_conv2d(x, w)`` and ``index_conv2d_weight_grad(x, g)``.

    Parameters
    ----------
    x : ndarray of uint8, shape (B, C, H, W)
        Activations.
    kernel_size, stride, padding : int or pair of ints
        The convolution's geometry (zero padding contributes nothing). Groups do not change
        the stats: every channel is read by the O/groups outputs of its group (the row length).
    tiles : int, optional
        As for :func:`matmul_tap_stats`.

    Returns
    -------
    TapStats
        ``adds`` = sum over output positions and taps of the input value read, ``reads`` = the
        same over non-zero inputs; one pass over x with per-axis cover counts, no kernel run.
    """
    x = as_array("x", x, np.uint8, 4)
    kh, kw = pair("kernel_size", kernel_size)
    (sh, sw), (ph, pw) = pair("stride", stride), pair("padding", padding)
    ho, wo = conv_shapes(x.shape, 1, x.shape[1], kh, kw, (sh, sw), (ph, pw), 1)
    n_b, c, h, w = x.shape
    cover = np.outer(_cover(h, ho, kh, sh, ph), _cover(w, wo, kw, sw, pw)).ravel()
    adds, reads, vmax = _weighted_stats(x.reshape(n_b * c, h * w), cover)
    return TapStats(int(adds), int(reads), uint_dtype(check_levels("x", vmax, tiles)))
