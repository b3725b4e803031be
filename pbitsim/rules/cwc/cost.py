"""CwC-FF: forward-forward with the channel-wise competitive loss (see :mod:`.ff`), on
real-valued ReLU units or, as BSFF (binary stochastic FF), on tiled logistic p-bit units.

BSFF is the CwC-FF walk of :class:`~pbitsim.estimator.algorithms._local.LocalRule` with every
block's units tiled (M p-bits each):

* every linear output is batch-normalised before its tiles (so it spans the tiles' range
  0..M; real batch norm in training, the running statistics at inference);
* the first layer multiplies the real-valued data; every later layer and the head
  index-and-accumulate the previous block's tile counts (a weight row added x times, fetched
  once when x > 0, no multiplies), with the previous batch norm folded into their weights once
  per step;
* max-pool compares counts at their width; batch norm sums the integer counts; the goodness is
  taken on its output;
* local gradients are fp32: mean-field through the tiles (or straight-through) and the
  pre-activation batch norm, then the weight gradient as a transposed index product; Adam.
* inference with K sampled passes (``eval_samples``) costs K passes and the sums.
"""

from __future__ import annotations

from pbitsim.network import counters
from pbitsim.estimator.algorithms import ModelParams, register
from pbitsim.estimator.algorithms._local import LocalRule
from pbitsim.network.archs import Arch


@register
class CwC(LocalRule):
    variant = "cwc"

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        if not self.tiled:
            return super().assumptions(arch, params)
        k = (f"; {params.eval_samples} sampled test passes summed" if params.eval_samples > 1
             else "")
        m = params.units.tiles
        return [f"{self.name}: M = {m} tiles per unit (act u"
                f"{counters.dtype_bits(counters.uint_dtype(m))}); first layer real "
                "multiplies, later layers index-and-accumulate; pre-activation batch norm; "
                f"fp32 local gradients ({params.estimator} through the tiles), Adam{k}"
                + datapath_note(params)]


def datapath_note(params: ModelParams) -> str:
    """The fixed-point datapath's part of an assumption line, or nothing for fp32."""
    p = params.precision
    return f"; datapath: {p.describe()}" if p.fixed else ""
