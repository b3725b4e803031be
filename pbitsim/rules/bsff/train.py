"""BSFF's training step: the CwC family on tiled p-bit units."""

from __future__ import annotations

from pbitsim.training.algorithms import register
from pbitsim.rules.cwc.train import CwCFamily


@register
class BSFF(CwCFamily):
    """CwC-FF's rule on tiled p-bit units."""
