"""BGBSFF's training step: BSFF with quantized local errors."""

from __future__ import annotations

from pbitsim.training.algorithms import register
from pbitsim.rules.cwc.train import CwCFamily


@register
class BGBSFF(CwCFamily):
    """BSFF with quantized local errors (``--grad-quant``, ``--update``)."""

    quantized = True
