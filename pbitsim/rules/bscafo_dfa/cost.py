"""BSCaFo DFA-CE: the estimator walk of DFA-CE on tiled p-bit blocks
(:mod:`pbitsim.rules.cafo_dfa.cost`, its tiled branches)."""

from __future__ import annotations

from pbitsim.estimator.algorithms import register
from pbitsim.rules.cafo_dfa.cost import CafoDFA


@register
class BSCafoDFA(CafoDFA):
    """DFA-CE on tiled p-bit units: Rand-CE's tiled blocks and predictors
    (:class:`pbitsim.rules.bscafo_rand.cost.BSCafoRand`); in the block stage the auxiliary head
    index-and-accumulates the last block's counts, the gradients pass the tiles by the mean
    field (or straight through) and the batch norm before them."""

