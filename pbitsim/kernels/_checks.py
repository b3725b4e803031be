"""Argument checks shared by the kernel wrappers: one clear ValueError per bad input."""

from __future__ import annotations

import numpy as np

from ..config import check_tiles as _check_tiles


def as_array(name: str, a, dtype, ndim: int | None = None) -> np.ndarray:
    """``a`` as a C-contiguous array of exactly ``dtype`` (no silent casts)."""
    arr = np.asarray(a)
    if arr.dtype != np.dtype(dtype):
        raise ValueError(f"{name} must have dtype {np.dtype(dtype).name}, got {arr.dtype.name}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_tiles(tiles) -> int:
    if isinstance(tiles, np.bool_):
        raise ValueError(f"tiles must be an integer, got {tiles!r}")
    return _check_tiles(tiles)


def check_levels(name: str, max_value: int, tiles) -> int:
    """The largest value the activations may hold (``tiles``, or their max when not given)."""
    if tiles is None:
        return max(1, int(max_value))
    tiles = check_tiles(tiles)
    if max_value > tiles:
        raise ValueError(f"{name} holds {max_value}, more than tiles={tiles}")
    return tiles


def pair(name: str, v) -> tuple[int, int]:
    """An int or a pair of ints as a pair (conv stride, padding, kernel size)."""
    t = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                              for i in t):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(t[0]), int(t[1])
