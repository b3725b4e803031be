"""BSCaFo Rand-CE's training step: Rand-CE on tiled p-bit blocks (one implementation:
:mod:`pbitsim.rules.cafo_rand.train`)."""

from __future__ import annotations

from pbitsim.rules.cafo_rand.train import CafoRand
from pbitsim.training.algorithms import register


@register
class BSCafoRand(CafoRand):
    """Rand-CE on tiled p-bit blocks (the descriptor's ``tiled``)."""
