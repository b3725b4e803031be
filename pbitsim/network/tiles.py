"""Statistics of tiled logistic units' outputs, for the analytic BSFF counts.

A tiled unit with M tiles outputs x = number of tiles fired, 0..M; tile i fires with
probability sigmoid(z - (i - 1/2)). Index-and-accumulate work depends on two numbers:

* the *density* d = E[x] / M, the fraction of p-bit samples that are 1 (adds scale
  with E[x] = M d: a weight row is added x times);
* the *nonzero fraction* q = P(x > 0) (weight rows fetched: one per nonzero input).

For M = 1 they are equal. For M > 1, q follows from d through a stated model: the
preactivation z is Gaussian N(mu, PREACT_STD^2) with mu solved so that the model's
density equals d. pbitsim's BSFF batch-normalises every preactivation to a learned scale
initialised at 3 (``training.models.PRE_SCALE``) so that it spans the tiles' range; in
trained networks that scale stays at 2.4-4.2 (F-MNIST, MNIST, CIFAR-10, M = 7). The same
model gives the distribution of x, hence the statistics after a max-pool over s x s
neighbours, taken as independent (neighbours are positively correlated in practice, so
this overstates the pooled density, which does not favour BSFF). Against training runs
the model overstates P(x > 0) by 20-26% at the measured densities (units differ in centre
and scale: a mixture has more zeros than one Gaussian with the same mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["TileStats", "tile_stats", "DEFAULT_DENSITY"]

# Default activation density: full training runs with M = 7 measured 0.096 (MNIST),
# 0.115 (Fashion-MNIST) and 0.182 (CIFAR-10). A run's measured densities replace it
# (--counts).
DEFAULT_DENSITY = 0.15
PREACT_STD = 3.0  # std of the Gaussian preactivation model (the trainer's PRE_SCALE)

_GRID = [i * 0.2 for i in range(-40, 41)]                     # (z - mu) / std, in [-8, 8]
_WEIGHTS = [math.exp(-0.5 * t * t) for t in _GRID]
_NORM = sum(_WEIGHTS)
_WEIGHTS = [w / _NORM for w in _WEIGHTS]


def _sigmoid(v: float) -> float:
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@dataclass(frozen=True)
class TileStats:
    """Density d = E[x]/M and nonzero fraction q = P(x > 0) of a tiled unit's output."""

    tiles: int
    density: float
    nonzero: float

    @property
    def mean_count(self) -> float:
        """E[x]: weight-row additions per input in an index-and-accumulate product."""
        return self.tiles * self.density


def _mean_density(tiles: int, mu: float) -> float:
    total = 0.0
    for t, w in zip(_GRID, _WEIGHTS):
        z = mu + PREACT_STD * t
        total += w * sum(_sigmoid(z - (i - 0.5)) for i in range(1, tiles + 1))
    return total / tiles


def _solve_mu(tiles: int, density: float) -> float:
    lo, hi = -40.0 * PREACT_STD, 40.0 * PREACT_STD + tiles
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        if _mean_density(tiles, mid) < density:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@lru_cache(maxsize=64)
def _count_cdf(tiles: int, density: float) -> tuple[float, ...]:
    """P(x <= k), k = 0..M, under z ~ N(mu, PREACT_STD^2) with mu matching ``density``."""
    mu = _solve_mu(tiles, density)
    pmf = [0.0] * (tiles + 1)
    for t, w in zip(_GRID, _WEIGHTS):
        z = mu + PREACT_STD * t
        dist = [1.0]
        for i in range(1, tiles + 1):
            p = _sigmoid(z - (i - 0.5))
            nxt = [0.0] * (len(dist) + 1)
            for k, v in enumerate(dist):
                nxt[k] += v * (1.0 - p)
                nxt[k + 1] += v * p
            dist = nxt
        for k, v in enumerate(dist):
            pmf[k] += w * v
    cdf, acc = [], 0.0
    for v in pmf:
        acc += v
        cdf.append(min(acc, 1.0))
    cdf[-1] = 1.0
    return tuple(cdf)


def _stats_from_cdf(tiles: int, cdf) -> TileStats:
    mean = sum(1.0 - c for c in cdf[:-1])          # E[x] = sum_k P(x > k)
    return TileStats(tiles, mean / tiles, 1.0 - cdf[0])


@lru_cache(maxsize=256)
def tile_stats(tiles: int, density: float, window: int = 1) -> TileStats:
    """Stats of a tiled unit at ``density``, after a max over ``window`` such units."""
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    if density >= 1.0 - 1e-12:
        return TileStats(tiles, 1.0, 1.0)
    if tiles == 1:
        q = density if window == 1 else 1.0 - (1.0 - density) ** window
        return TileStats(1, q, q)
    cdf = _count_cdf(tiles, density)
    if window == 1:
        # Report the requested density exactly; q from the model.
        return TileStats(tiles, density, 1.0 - cdf[0])
    return _stats_from_cdf(tiles, [c ** window for c in cdf])
