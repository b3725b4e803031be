"""BSSFF's training step: Scalable FF on tiled p-bit units (one implementation: SFF's)."""

from __future__ import annotations

from pbitsim.training.algorithms import register
from pbitsim.rules.sff.train import SFF


@register
class BSSFF(SFF):
    name = "bssff"
    default_lr = 1e-3
