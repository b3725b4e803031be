"""CwC-FF: real-valued forward-forward with the channel-wise competitive loss (see :mod:`.ff`)."""

from __future__ import annotations

from pbitsim.energy_models.algorithms import register
from pbitsim.energy_models.algorithms._local import LocalRule


@register
class CwC(LocalRule):
    variant = "cwc"
