"""Fixed-point quantizer: float32 values to the signed integer words of a fixed-point datapath
(:mod:`pbitsim.precision`), which the fixed-point products (:mod:`.fixed_products`) add.

:func:`quantize`: symmetric, one scale per channel (row of axis 0) or per tensor, rounded to
nearest (ties up: ``floor(t + 1/2)``) or stochastically (``floor(t + u)``, ``u`` a
counter-based uniform of the seed and the element's index, so any thread count draws the
same), saturated to ``+-(2^(bits-1) - 1)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..precision import ROUNDINGS, SCALE_RULES
from ._checks import as_array, check_bits
from .rng import UNIFORM24_SCALE, draw64, seed_key

__all__ = ["quantize"]


@njit(parallel=True, cache=True)
def _quantize(v, qmax, stochastic, key, scale, out):
    """out[c, j] = clamp(round(v[c, j] / scale[c])) for v [C, L]; rounding per ``stochastic``."""
    n_c, n = v.shape
    qmax_f = np.float64(qmax)
    for c in prange(n_c):
        s = scale[c]
        for j in range(n):
            t = np.float64(v[c, j]) / s
            if stochastic:
                u = np.float64(np.uint64(draw64(key, c * n + j) >> np.uint64(40))
                               * UNIFORM24_SCALE)
                r = np.floor(t + u)
            else:
                r = np.floor(t + 0.5)
            if r >= qmax_f:
                out[c, j] = qmax
            elif r <= -qmax_f:
                out[c, j] = -qmax
            else:
                out[c, j] = np.int64(r)


def quantize(v, bits: int, *, scale_rule: str = "channel", rounding: str = "nearest",
             seed: int = 0, scale=None, dtype=np.int64):
    """Symmetric fixed-point quantization of float32 ``v`` to signed ``bits``-bit integers.

    Parameters
    ----------
    v : ndarray of float32
        Values; axis 0 is the channel axis (output channels of a weight, ``[O, ...]``).
    bits : int
        Word width, ``MIN_BITS..MAX_BITS`` (:mod:`pbitsim.config`).
    scale_rule : {"channel", "layer"}
        One scale per row of axis 0, or one for the whole tensor.
    rounding : {"nearest", "stochastic"}
        ``floor(t + 1/2)``, or ``floor(t + u)`` with ``u`` uniform on [0, 1) from ``seed`` and
        the element's flat index (24-bit resolution).
    seed : int
        Seed of the stochastic rounding.
    scale : ndarray of float64, optional
        Given scales (``[C]``, or ``[1]`` for ``layer``) instead of ``max|v| / qmax``; values
        beyond ``qmax * scale`` saturate.
    dtype : numpy integer dtype
        Storage of the result (int32 or int64; must hold ``bits`` bits).

    Returns
    -------
    (q, scale) : (ndarray of dtype shaped like v, ndarray of float64 [C] or [1])
        ``v ~= q * scale`` (broadcast along axis 0). A channel of zeros gets scale 1.
    """
    v = as_array("v", v, np.float32)
    bits = check_bits("bits", bits)
    if scale_rule not in SCALE_RULES:
        raise ValueError(f"scale_rule must be one of {', '.join(SCALE_RULES)}, got {scale_rule!r}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    if v.ndim == 0:
        raise ValueError("v must have at least one axis")
    if np.dtype(dtype) not in (np.dtype(np.int32), np.dtype(np.int64)) or (
            bits > 32 and np.dtype(dtype) == np.int32):
        raise ValueError(f"dtype {np.dtype(dtype).name} cannot hold {bits}-bit words")
    qmax = (1 << (bits - 1)) - 1
    rows = v.reshape(v.shape[0] if scale_rule == "channel" else 1, -1)
    if scale is None:
        peak = np.abs(rows).max(axis=1).astype(np.float64) if rows.size else np.zeros(len(rows))
        scale = np.where(peak > 0, peak / qmax, 1.0)
    else:
        scale = np.ascontiguousarray(scale, np.float64).reshape(-1)
        if scale.shape != (rows.shape[0],) or not np.all(np.isfinite(scale) & (scale > 0)):
            raise ValueError(f"scale must be {rows.shape[0]} positive finite numbers")
    if not np.all(np.isfinite(rows)):
        raise ValueError("v holds a non-finite value")
    out = np.empty(rows.shape, dtype)
    _quantize(rows, np.int64(qmax), rounding == "stochastic", seed_key(seed), scale, out)
    return out.reshape(v.shape), scale
