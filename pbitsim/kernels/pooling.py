"""Max pooling of tile counts (the comparators after a block of p-bits) and its backward.

The hardware compares the small-integer counts of a ``size`` x ``size`` window and passes the
largest on. :func:`max_pool_counts` does that on the uint8 counts themselves (a quarter of the
bytes of float32 counts) and also returns the window position of each maximum, which the
backward routes the output error to. Ties go to the first maximum in row-major window order,
as ``torch.nn.functional.max_pool2d`` picks them, so the routed gradients are the same bits as
torch's (tested). Stride = ``size``, no padding, rows and columns beyond the last whole window
dropped (torch's floor mode). Each plane (image, channel) is one task: results never depend on
the number of threads.

The comparisons are the simulator's, not counted here: the bridge counts pooling with
:func:`pbitsim.network.costs.maxpool` and :func:`pbitsim.network.costs.maxpool_backward`, as for real values.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._checks import as_array

__all__ = ["max_pool_counts", "max_pool_counts_backward"]


@njit(parallel=True, cache=True)
def _pool(x, size, out_u8, out_f, arg):
    """Per plane: out = max over each window, arg = its first position (row-major) in it."""
    n_p, ho, wo = out_u8.shape
    for p in prange(n_p):
        for i in range(ho):
            for j in range(wo):
                best = x[p, i * size, j * size]
                k = 0
                for a in range(size):
                    for b in range(size):
                        v = x[p, i * size + a, j * size + b]
                        if v > best:
                            best = v
                            k = a * size + b
                out_u8[p, i, j] = best
                out_f[p, i, j] = best
                arg[p, i, j] = k


@njit(parallel=True, cache=True)
def _unpool(g, arg, size, out):
    """Per plane: out = 0, then out[window position arg] += g (one position per window)."""
    n_p, ho, wo = g.shape
    for p in prange(n_p):
        out[p] = np.float32(0.0)
        for i in range(ho):
            for j in range(wo):
                k = arg[p, i, j]
                out[p, i * size + k // size, j * size + k % size] += g[p, i, j]


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"pool size must be a positive integer, got {size!r}")
    return int(size)


def max_pool_counts(x, size: int = 2):
    """``size`` x ``size`` max pooling (stride ``size``) of uint8 counts ``[..., H, W]``.

    Returns
    -------
    out : ndarray of uint8, ``[..., H // size, W // size]``
        The window maxima.
    out_float : ndarray of float32
        The same values as float32 (what the training reads: no second conversion pass).
    arg : ndarray of uint8
        Position of each maximum in its window, ``a * size + b`` for row ``a`` and column
        ``b`` (the first one in row-major order when several tie), for
        :func:`max_pool_counts_backward`.
    """
    size = _check_size(size)
    if size > 15:
        raise ValueError(f"pool size must be at most 15 (window positions are uint8), got {size}")
    x = as_array("x", x, np.uint8)
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (H, W), got shape {x.shape}")
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    ho, wo = h // size, w // size
    if ho < 1 or wo < 1:
        raise ValueError(f"pool size {size} is larger than the {h}x{w} input")
    planes = int(np.prod(lead, dtype=np.int64))
    out = np.empty((planes, ho, wo), np.uint8)
    out_f = np.empty((planes, ho, wo), np.float32)
    arg = np.empty((planes, ho, wo), np.uint8)
    _pool(x.reshape(planes, h, w), size, out, out_f, arg)
    shape = lead + (ho, wo)
    return out.reshape(shape), out_f.reshape(shape), arg.reshape(shape)


def max_pool_counts_backward(g, arg, size: int, in_hw) -> np.ndarray:
    """The input gradient of :func:`max_pool_counts`: ``g`` routed to each window's maximum.

    ``g`` float32 and ``arg`` uint8 of the pooled shape ``[..., Ho, Wo]``; ``in_hw`` the input's
    ``(H, W)``. Returns float32 ``[..., H, W]``, zero off the maxima (and on rows and columns no
    window covers); each routed value is ``0.0 + g`` as torch's scatter-add gives it.
    """
    size = _check_size(size)
    g = as_array("g", g, np.float32)
    arg = as_array("arg", arg, np.uint8)
    if g.shape != arg.shape or g.ndim < 2:
        raise ValueError(f"g {g.shape} and arg {arg.shape} must be the same pooled shape")
    h, w = int(in_hw[0]), int(in_hw[1])
    lead, (ho, wo) = g.shape[:-2], g.shape[-2:]
    if h // size != ho or w // size != wo:
        raise ValueError(f"a {h}x{w} input pooled by {size} is not {ho}x{wo}")
    if arg.size and int(arg.max()) >= size * size:
        raise ValueError(f"arg holds window positions beyond {size * size - 1}")
    planes = int(np.prod(lead, dtype=np.int64))
    out = np.empty((planes, h, w), np.float32)
    _unpool(g.reshape(planes, ho, wo), arg.reshape(planes, ho, wo), size, out)
    return out.reshape(lead + (h, w))
