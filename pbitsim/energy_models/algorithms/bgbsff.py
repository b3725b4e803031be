"""BGBSFF: BSFF with binarized gradients and integer weight-gradient accumulation.

The forward pass, goodness and loss are BSFF's. The local gradient signal is reduced
to its sign at each unit (one bit):

* at the goodness point sign(dL/dy) = sign(dL/dG) * sign(a x + b): one compare of the
  count with a per-channel threshold;
* batch norm's affine (after the tiles and before them) and the tiles' positive slope
  keep the sign (batch norm's batch-statistics terms are dropped), so no arithmetic
  flows back through them; the max-pool routes sign bits;
* the weight gradient adds or subtracts the input count into an integer accumulator
  wide enough for a batch (``sign_accumulator``), reading one sign bit per use;
* the update is w -= 2^-k * accumulator (a shift and one fp32 add), no optimizer
  state. Batch-norm affines and the softmax head keep BSFF's real gradients and Adam.
"""

from __future__ import annotations

from .. import ops
from ..archs import Arch, Block, Layer
from ..counts import Counts
from ..tiles import TileStats
from . import ModelParams, block_params, register
from .bsff import BSFF, pre_norm_params


@register
class BGBSFF(BSFF):
    name = "bgbsff"
    title = "BGBSFF (BSFF, binarized gradients)"
    order = 30

    def local_grad(self, n: int, params: ModelParams) -> Counts:
        return ops.local_sign_counts(n, params.tiles)

    def post_backward(self, layer: Layer, params: ModelParams) -> Counts:
        if layer.type == "pool":
            return ops.pool_backward(layer, gdtype="u1")
        return Counts()

    def activation_backward(self, layer: Layer, params: ModelParams) -> Counts:
        return Counts()

    def weight_grad(self, layer: Layer, xin: TileStats | None, params: ModelParams) -> Counts:
        acc = self.accumulator(layer, xin, params)
        return ops.weight_grad_sign(layer, xin, params.batch_size, acc)

    def head_weight_grad(self, layer: Layer, xin: TileStats | None,
                         params: ModelParams) -> Counts:
        return BSFF.weight_grad(self, layer, xin, params)

    def update(self, block: Block, xin: TileStats | None, params: ModelParams) -> Counts:
        acc = self.accumulator(block.linear, xin, params)
        norm_params = block_params(block) - block.linear.params + pre_norm_params(block)
        return (ops.sign_update(block.linear.params, params.batch_size, acc)
                .merge(ops.adam(norm_params, params.batch_size)))

    @staticmethod
    def accumulator(layer: Layer, xin: TileStats | None, params: ModelParams) -> str:
        if xin is None:
            return ops.FP
        return ops.sign_accumulator(layer, params.tiles, params.batch_size)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        return [f"{self.name}: BSFF forward; 1-bit gradient signs, integer weight-gradient "
                "accumulators, update by shift-and-add without optimizer state"]
