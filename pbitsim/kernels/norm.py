"""Batch-norm statistics and backward for a batch norm that feeds tiled p-bits (training math).

In BSFF every block's linear output ``z`` is batch-normalised before its tiles. The simulator
applies that normalisation as the p-bits read ``z`` (``tiled_logistic(channel_affine=...)``),
so the normalised array is never written; this module gives the two passes around it:

* :func:`channel_moments`: per-channel mean and (biased) variance of ``z`` in one read
  (per plane in float32 lanes, two passes over the plane while it is in cache; planes
  combined in float64 by Chan's formula);
* :func:`norm_tiles_backward`: the batch norm's backward with the tiled units' mean-field
  slope folded in: from the error ``g`` at the tile counts, ``gz = g * slope`` (float32, as
  the unfused backward forms it) and then the input, scale and shift gradients, without
  writing ``gz``.

Each channel is one task with a fixed order of operations, so results do not depend on the
number of threads. Sums run in float32 vector lanes within a plane (reassociated for
vectorisation, an order fixed at compile time) and in float64 across planes: they equal torch's
batch norm up to float rounding (tested), not bit for bit.
These are the simulator's training computations; the bridge counts them as torch's batch norm
(:func:`pbitsim.network.costs.batchnorm`, :func:`pbitsim.network.costs.batchnorm_backward`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._checks import as_array

__all__ = ["channel_moments", "norm_tiles_backward"]


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _moments(x, mean, var):
    n_b, n_c, n = x.shape
    for c in prange(n_c):
        tot = 0.0
        mu = 0.0
        m2 = 0.0
        for b in range(n_b):  # per plane in float32 lanes (it is in cache), planes in float64
            row = x[b, c]
            s = np.float32(0.0)
            for j in range(n):
                s += row[j]
            m = s / np.float32(n)
            q = np.float32(0.0)
            for j in range(n):
                d = row[j] - m
                q += d * d
            both = tot + n
            delta = np.float64(m) - mu
            mu += delta * n / both
            m2 += np.float64(q) + delta * delta * tot * n / both
            tot = both
        mean[c] = mu
        var[c] = m2 / tot


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def _backward(g, slope, z, mean, invstd, weight, dz, dweight, dbias):
    n_b, n_c, n = z.shape
    count = n_b * n
    for c in prange(n_c):
        mf = np.float32(mean[c])
        sg = 0.0
        dot = 0.0
        for b in range(n_b):  # per plane in float32 lanes, planes in float64
            gr, sr, zr = g[b, c], slope[b, c], z[b, c]
            s = np.float32(0.0)
            d = np.float32(0.0)
            for j in range(n):
                gz = gr[j] * sr[j]
                s += gz
                d += gz * (zr[j] - mf)
            sg += s
            dot += d
        # centred on the float32 mean: the exact mean's share, sg * (mean - mf), put back
        dot -= sg * (mean[c] - np.float64(mf))
        istd = np.float64(invstd[c])
        k = np.float32(dot * istd * istd / count)
        mg = np.float32(sg / count)
        a = np.float32(istd * weight[c])
        for b in range(n_b):
            gr, sr, zr, dr = g[b, c], slope[b, c], z[b, c], dz[b, c]
            for j in range(n):
                dr[j] = ((gr[j] * sr[j] - mg) - (zr[j] - mf) * k) * a
        dweight[c] = dot * istd
        dbias[c] = sg


def _planes(name: str, x) -> np.ndarray:
    x = as_array(name, x, np.float32)
    if x.ndim < 2:
        raise ValueError(f"{name} must have a channel axis 1, got shape {x.shape}")
    return x.reshape(x.shape[0], x.shape[1], -1)


def channel_moments(z) -> tuple[np.ndarray, np.ndarray]:
    """Mean and biased variance of float32 ``z`` ``[B, C, ...]`` per channel (axis 1), float64."""
    z3 = _planes("z", z)
    if z3.shape[0] * z3.shape[2] == 0:
        raise ValueError(f"z of shape {z.shape} has no values per channel")
    mean = np.empty(z3.shape[1], np.float64)
    var = np.empty(z3.shape[1], np.float64)
    _moments(z3, mean, var)
    return mean, var


def norm_tiles_backward(g, slope, z, mean, invstd, weight):
    """Backward of ``tiles(batch_norm(z))`` with batch statistics, mean-field slope ``slope``.

    Parameters
    ----------
    g : ndarray of float32, ``[B, C, ...]``
        Error at the tiled units' output.
    slope : ndarray of float32, z's shape
        d E[count] / d input at the normalised input (the sampler's ``slope``).
    z : ndarray of float32
        The batch norm's input.
    mean, invstd : ndarray, ``[C]``
        The batch statistics the forward used (``invstd = 1 / sqrt(var + eps)``).
    weight : ndarray of float32, ``[C]``
        The batch norm's scale.

    Returns
    -------
    dz : ndarray of float32, z's shape
        ``weight * invstd * (gz - mean(gz) - xhat * mean(gz * xhat))``, ``gz = g * slope``,
        ``xhat = (z - mean) * invstd``.
    dweight, dbias : ndarray of float64, ``[C]``
        ``sum(gz * xhat)`` and ``sum(gz)`` per channel.
    """
    z3 = _planes("z", z)
    g3, s3 = _planes("g", g), _planes("slope", slope)
    if g3.shape != z3.shape or s3.shape != z3.shape:
        raise ValueError(f"g {np.shape(g)}, slope {np.shape(slope)} and z {np.shape(z)} differ")
    c = z3.shape[1]
    mean = as_array("mean", mean, np.float64, 1)
    invstd = as_array("invstd", invstd, np.float64, 1)
    weight = as_array("weight", weight, np.float32, 1)
    if not mean.shape == invstd.shape == weight.shape == (c,):
        raise ValueError(f"mean, invstd and weight must have the {c} channels of z")
    dz = np.empty(z3.shape, np.float32)
    dweight = np.empty(c, np.float64)
    dbias = np.empty(c, np.float64)
    _backward(g3, s3, z3, mean, invstd, weight, dz, dweight, dbias)
    return dz.reshape(np.shape(z)), dweight, dbias
