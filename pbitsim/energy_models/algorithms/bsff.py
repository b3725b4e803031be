"""BSFF: binary stochastic forward-forward with tiled logistic units (M tiles).

The forward-forward walk of :mod:`.ff` with binary stochastic units:

* each unit is M p-bits with offsets i - 1/2 whose outputs are summed to a count
  0..M (``pbit_sample`` = M per unit);
* a layer fed by counts index-and-accumulates (a weight row added x times, fetched
  once when x > 0, no multiplies): the work scales with the activation density; the
  first layer takes the real-valued data and multiplies;
* max-pool compares counts at their width; batch norm works on integer sums and is
  folded into the next layer's weights once per batch, so counts (not reals) move
  between layers; the goodness comes from the same integer sums;
* every block's linear output is batch-normalised before its tiles (so it spans the
  tiles' range 0..M): real batch norm while training, folded into that layer's weights
  and bias at inference (no work per sample);
* local gradients stay real-valued (fp32): mean-field through the tiles and the
  pre-activation batch norm, then the weight gradient as a transposed index product; Adam.
"""

from __future__ import annotations

from ... import counters
from .. import ops
from ..archs import Arch, Block, Layer
from ..counts import Counts
from ..tiles import TileStats
from . import ModelParams, block_params, register
from .ff import FF


@register
class BSFF(FF):
    name = "bsff"
    title = "BSFF (binary stochastic FF, M tiles)"
    uses_tiles = True
    order = 20

    def block_input(self, arch: Arch, params: ModelParams, index: int) -> TileStats | None:
        return params.input_stats(arch, index)

    def linear_forward(self, layer: Layer, xin: TileStats | None) -> Counts:
        return ops.linear_real(layer) if xin is None else ops.linear_index(layer, xin)

    def activation(self, layer: Layer, params: ModelParams, train: bool) -> Counts:
        c = ops.tiled(layer.n_out, params.tiles)
        if train:
            c.merge(ops.batchnorm_real(pre_norm(layer), params.batch_size))
        return c

    def activation_backward(self, layer: Layer, params: ModelParams) -> Counts:
        return (ops.tiled_backward(layer.n_out, params.tiles)
                .merge(ops.batchnorm_backward(pre_norm(layer))))

    def update(self, block: Block, xin: TileStats | None, params: ModelParams) -> Counts:
        return ops.adam(block_params(block) + pre_norm_params(block), params.batch_size)

    def post_forward(self, arch: Arch, block: Block, layer: Layer, params: ModelParams,
                     train: bool, sum_sq_known: bool) -> Counts:
        if layer.type == "pool":
            return ops.pool(layer, counters.uint_dtype(params.tiles), train)
        nxt = arch.next_linear(block.index)
        if layer.type == "batchnorm":
            if not train:
                return Counts()
            return ops.batchnorm_counts(layer, params.tiles, params.batch_size, nxt)
        return ops.layernorm_counts(layer, params.tiles, nxt, sum_sq_known)

    def post_backward(self, layer: Layer, params: ModelParams) -> Counts:
        if layer.type == "batchnorm":
            return ops.batchnorm_backward(layer, xdtype=counters.uint_dtype(params.tiles))
        return super().post_backward(layer, params)

    def goodness(self, arch: Arch, block: Block, at: Layer | None,
                 params: ModelParams) -> Counts:
        n = at.n_out if at else block.linear.n_out
        affine = at.channels_out if at is not None and at.type == "batchnorm" else 0
        # Batch norm already made the integer sums; under Hinton's FF the goodness
        # makes the sum of squares that the following length norm reuses.
        known = at is not None and at.type in ("batchnorm", "layernorm")
        return ops.goodness_counts(n, params.tiles, arch.classes, arch.ff_variant,
                                   sums_known=known, affine_channels=affine)

    def local_grad(self, n: int, params: ModelParams) -> Counts:
        return ops.local_grad_counts(n, params.tiles)

    def weight_grad(self, layer: Layer, xin: TileStats | None, params: ModelParams) -> Counts:
        if xin is None:
            return ops.weight_grad_real(layer, params.batch_size)
        return ops.weight_grad_index(layer, xin, params.batch_size)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        return [f"{self.name}: M = {params.tiles} tiles per unit (act u"
                f"{counters.dtype_bits(counters.uint_dtype(params.tiles))}); first layer real "
                "multiplies, later layers index-and-accumulate; pre-activation batch norm "
                "(folded at inference); fp32 local gradients (mean-field through the tiles), "
                "Adam"]


def pre_norm(layer: Layer) -> Layer:
    """The batch norm between ``layer``'s output and its tiles (same shape in and out)."""
    return Layer("batchnorm", f"{layer.name}.pre", layer.out_shape, layer.out_shape)


def pre_norm_params(block: Block) -> int:
    """The pre-activation batch norm's affine (scale and shift per channel)."""
    return 2 * block.linear.channels_out
