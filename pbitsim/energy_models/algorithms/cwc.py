"""CwC-FF by name: real-valued forward-forward with the channel-wise competitive loss.

``ff`` takes its variant from the architecture (CwC on the ConvNets, Hinton's on the
MLPs); ``cwc`` always uses the CwC loss, as ``pbitsim train --algo cwc`` trains it,
so a training run's counts file can name either.
"""

from __future__ import annotations

import dataclasses

from ..archs import Arch
from . import LayerCounts, ModelParams, register
from .ff import FF


@register
class CwC(FF):
    name = "cwc"
    title = "CwC-FF (channel-wise competitive FF)"
    order = 15

    def training(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        return super().training(_cwc(arch), params)

    def inference(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        return super().inference(_cwc(arch), params)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        return super().assumptions(_cwc(arch), params)


def _cwc(arch: Arch) -> Arch:
    return dataclasses.replace(arch, ff_variant="cwc")
