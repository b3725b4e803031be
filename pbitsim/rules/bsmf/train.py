"""BSMF's training step: Mono-Forward on tiled p-bit units."""

from __future__ import annotations

from pbitsim.training.algorithms import register
from pbitsim.rules.mf.train import MF


@register
class BSMF(MF):
    """Mono-Forward on tiled p-bit units (one implementation: MF's)."""
