"""Limits and defaults shared by every command and layer (pure Python: no numpy, numba, torch).

One place for each number a user can hit: the kernels, the trainer, the estimator and the sweep
import these instead of repeating them.
"""

from __future__ import annotations

__all__ = ["MAX_TILES", "DEFAULT_TILES", "check_tiles", "BACKENDS", "DEFAULT_BACKEND"]

#: Largest tile count M per unit. The samplers' tile offsets go up to M - 1/2, and every exp()
#: they take must stay inside float32 range; counts are stored as uint8.
MAX_TILES = 64
#: The tile count of the BSFF paper's main results.
DEFAULT_TILES = 7


def check_tiles(tiles) -> int:
    """``tiles`` as an int in ``1..MAX_TILES``, else ``ValueError`` with one readable line."""
    if isinstance(tiles, bool) or not hasattr(tiles, "__index__"):
        raise ValueError(f"tiles must be an integer, got {tiles!r}")
    m = int(tiles.__index__())
    if not 1 <= m <= MAX_TILES:
        raise ValueError(f"tiles must be in 1..{MAX_TILES}, got {m}")
    return m


#: How the index layers (BSNConv2d, BSNLinear) run: ``index`` the index-and-accumulate kernels
#: (the reference), ``dense`` torch's float product on the tile counts (same sums up to float
#: reassociation, the kernels' counts from their closed forms).
BACKENDS = ("dense", "index")
#: Training's default: dense (measured faster; see the README's speed paragraph).
DEFAULT_BACKEND = "dense"
