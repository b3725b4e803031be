"""Argument checks shared by the kernel wrappers: one clear ValueError per bad input."""

from __future__ import annotations

import numpy as np

from ..config import MAX_BITS, MIN_BITS
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


def conv_shapes(x_shape, o, cg, kh, kw, stride, padding, groups) -> tuple[int, int]:
    """The output height and width of a convolution of x [B, C, H, W] by O filters of
    C/groups channels (cg) and kh x kw taps; one ValueError for a geometry that does not fit."""
    b, c, h, w = x_shape
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"groups={groups} must divide both the {c} input and {o} output channels")
    if cg != c // groups:
        raise ValueError(f"w expects {cg * groups} input channels (groups={groups}), x has {c}")
    (sh, sw), (ph, pw) = stride, padding
    if sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride} and {padding}")
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if kh < 1 or kw < 1 or ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input with padding {padding}")
    return ho, wo


def check_bits(name: str, bits) -> int:
    """A word or accumulator width as an int in ``MIN_BITS..MAX_BITS``."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {bits!r}")
    if not MIN_BITS <= int(bits) <= MAX_BITS:
        raise ValueError(f"{name} must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
    return int(bits)
