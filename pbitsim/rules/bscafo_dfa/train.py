"""BSCaFo DFA-CE's training step: DFA-CE on tiled p-bit blocks (one implementation:
:mod:`pbitsim.rules.cafo_dfa.train`)."""

from __future__ import annotations

from pbitsim.rules.cafo_dfa.train import CafoDFA
from pbitsim.training.algorithms import register


@register
class BSCafoDFA(CafoDFA):
    """DFA-CE on tiled p-bit blocks (the descriptor's ``tiled``)."""
