"""BSSFF's training step: Scalable FF on tiled p-bit units (one implementation: SFF's)."""

from __future__ import annotations

from pbitsim.training.algorithms import register
from pbitsim.rules.sff.train import SFF


@register
class BSSFF(SFF):
    """SFF on tiled p-bit units; its rate (the descriptor's) is 3e-3: of 1e-3, 3e-3 and 1e-2 on
    2,000 MNIST images x 2 epochs (sff-cnn-mnist), 3e-3 learned best; 1e-2 blew the goodness
    of the counts up."""
