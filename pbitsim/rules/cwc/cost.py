"""CwC-FF: real-valued forward-forward with the channel-wise competitive loss (see :mod:`.ff`)."""

from __future__ import annotations

from pbitsim.estimator.algorithms import register
from pbitsim.estimator.algorithms._local import LocalRule


@register
class CwC(LocalRule):
    variant = "cwc"
