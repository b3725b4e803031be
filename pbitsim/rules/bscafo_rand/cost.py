"""BSCaFo Rand-CE: the estimator walk of Rand-CE on tiled p-bit blocks
(:mod:`pbitsim.rules.cafo_rand.cost`, its tiled branches)."""

from __future__ import annotations

from pbitsim.estimator.algorithms import register
from pbitsim.rules.cafo_rand.cost import CafoRand


@register
class BSCafoRand(CafoRand):
    """Rand-CE on tiled p-bit units: the blocks are BSFF's (pre-activation batch norm onto M
    tiles sampled by p-bits; later blocks index-and-accumulate the counts), and every predictor
    index-and-accumulates its block's tile counts, the block's batch norm folded in."""

