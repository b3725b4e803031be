"""CwC-FF by name: real-valued forward-forward with the channel-wise competitive loss.

``ff`` takes its variant from the architecture (CwC on the ConvNets, Hinton's on the MLPs);
``cwc`` always uses the CwC loss, as ``pbitsim train --algo cwc`` trains it.
"""

from __future__ import annotations

from . import register
from .ff import LocalRule


@register
class CwC(LocalRule):
    name = "cwc"
    title = "CwC-FF (channel-wise competitive FF)"
    order = 15
    variant = "cwc"
