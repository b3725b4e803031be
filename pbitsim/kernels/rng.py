"""Counter-based random numbers: bit ``j`` of a stream depends only on (seed, j).

Two generators, both keyed by a 64-bit stream key (the seed passed through
SplitMix64's mixer, so nearby seeds give unrelated keys):

* :func:`draw64`, 64 bits per draw: SplitMix64's output function applied to
  ``key + (j + 1) * gamma``. Used where a draw is made once per weight, row or p-bit
  (stochastic rounding, the states of the digital p-bit device's generators).
* :func:`hash32`, 32 bits per draw, for the p-bit samplers (ideal and sMTJ), which make
  billions of draws per epoch: ``lowbias32(lowbias32(j ^ k0) ^ k1)``, where ``k0``/``k1``
  are the low and high halves of ``mix64(key)`` and lowbias32 (C. Wellons' 32-bit
  xorshift-multiply hash, a bijection with low avalanche bias) is applied twice, so that
  all 64 key bits act nonlinearly on every output. It needs only 32-bit multiplies, which
  AVX2 does 8 lanes at a time (draw64's 64-bit multiplies are emulated there): a word costs
  about 0.6 of a draw64 draw (``benchmarks/bench_sampler.py``), and the samplers take two
  16-bit uniforms from it.
  Positions ``j`` are below 2**32 (callers check). Two keys with equal ``k1`` would give
  the same 2**32 words permuted (``j -> j ^ (k0 ^ k0')``); for keys from distinct seeds
  that happens with probability 2**-32 per pair, and even then the words of a call's
  positions rarely overlap.

Because nothing is carried from one draw to the next, any thread may draw any element:
the same seed gives the same bits on 1 or many threads and under any chunking, and no
uniform array the size of the input is ever allocated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..seeds import check_seed, derive_seed, mix64_py

__all__ = ["derive_seed", "seed_key", "mix64", "draw64", "UNIFORM24_SCALE", "hash32", "key_halves",
           "hash32_words", "HASH32_LIMIT"]  # derive_seed: pbitsim.seeds

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_MASK64 = (1 << 64) - 1

# A 24-bit integer times this is a float32 uniform on [0, 1) with 2**-24 resolution.
UNIFORM24_SCALE = np.float32(2.0 ** -24)


@njit(inline="always", cache=True)
def mix64(z):
    """SplitMix64's finalizer: a bijection on uint64 with full avalanche."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(inline="always", cache=True)
def draw64(key, j):
    """The ``j``-th 64-bit draw of the stream ``key`` (``j`` counts from 0)."""
    return mix64(key + (np.uint64(j) + np.uint64(1)) * _GAMMA)


_MASK32 = np.uint64(0xFFFFFFFF)
#: hash32 positions per key: a call may draw at most this many 32-bit words.
HASH32_LIMIT = 1 << 32


@njit(inline="always", cache=True)
def _lowbias32(x):
    """C. Wellons' lowbias32: a bijection on uint32 (xorshift-multiply, two rounds)."""
    x = np.uint32(x ^ (x >> np.uint32(16)))
    x = np.uint32(x * np.uint32(0x7FEB352D))
    x = np.uint32(x ^ (x >> np.uint32(15)))
    x = np.uint32(x * np.uint32(0x846CA68B))
    return np.uint32(x ^ (x >> np.uint32(16)))


@njit(inline="always", cache=True)
def hash32(k0, k1, j):
    """The ``j``-th 32-bit word (``j`` a uint32) of the stream with key halves ``k0``, ``k1``."""
    return _lowbias32(np.uint32(_lowbias32(np.uint32(j ^ k0)) ^ k1))


@njit(inline="always", cache=True)
def key_halves(key):
    """The (low, high) uint32 halves of ``mix64(key)``: the key words :func:`hash32` takes
    (mixed once more, so that keys differing in a few bits give unrelated key words)."""
    w = mix64(key)
    return np.uint32(w & _MASK32), np.uint32(w >> np.uint64(32))


@njit(cache=True)
def hash32_words(key, start, count):
    """``count`` words of :func:`hash32`'s stream ``key`` from position ``start`` (uint32)."""
    k0, k1 = key_halves(key)
    out = np.empty(count, np.uint32)
    for i in range(count):
        out[i] = hash32(k0, k1, np.uint32(start + i))
    return out


def seed_key(seed) -> np.uint64:
    """The stream key of a user seed (any Python or numpy integer; negatives wrap)."""
    return np.uint64(mix64_py(check_seed(seed) ^ 0x5EED5EED5EED5EED))
