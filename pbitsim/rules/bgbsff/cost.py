"""BGBSFF: BSFF whose local errors are quantized before the weight gradients.

The forward pass, goodness and loss are BSFF's, and so is the fp32 local gradient down to each
linear layer's output. There the error is quantized per output channel (``grad_quant``:
stochastic ``ternary`` {-1, 0, +1}, the default, or ``sign``), so the weight-gradient
accumulation is integer adds of tile counts (int32 sums, error words read at 2 or 1 bits),
scaled once per weight by the channel's error scale. The update (``update``) is Adam, or the
hardware's shift-and-add ``w -= 2^-k g`` without optimizer state (``shift``). The softmax head
keeps BSFF's real gradient and Adam.
"""

from __future__ import annotations

from pbitsim.estimator.algorithms import ModelParams, register
from pbitsim.network.archs import Arch
from pbitsim.rules.cwc.cost import CwC, datapath_note


@register
class BGBSFF(CwC):
    """CwC-FF's walk on tiled p-bit units (BSFF's), its errors quantized."""
    quantized = True

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        update = ("shift-and-add update (w -= 2^-k g, no optimizer state)"
                  if params.update == "shift" else "Adam")
        return [f"{self.name}: BSFF forward; {params.grad_quant} errors per output channel, "
                f"{params.precision.int_acc_dtype} weight-gradient accumulators, {update}"
                + datapath_note(params)]
