"""Counter-based random numbers: bit ``j`` of a stream depends only on (seed, j).

Each draw is the SplitMix64 output function applied to ``key + (j + 1) * gamma``, where
``key`` is the seed passed through the same mixer (so nearby seeds give unrelated
streams). Because nothing is carried from one draw to the next, any thread may draw
any element: the same seed gives the same bits on 1 or many threads and under any
chunking, and no uniform array the size of the input is ever allocated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..seeds import check_seed, derive_seed, mix64_py

__all__ = ["derive_seed", "seed_key", "mix64", "draw64", "UNIFORM24_SCALE"]  # derive_seed: pbitsim.seeds

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


def seed_key(seed) -> np.uint64:
    """The stream key of a user seed (any Python or numpy integer; negatives wrap)."""
    return np.uint64(mix64_py(check_seed(seed) ^ 0x5EED5EED5EED5EED))
