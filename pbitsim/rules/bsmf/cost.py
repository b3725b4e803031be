"""BSMF: the estimator walk of Mono-Forward on tiled p-bit units."""

from __future__ import annotations

from pbitsim.network import costs
from pbitsim.network.costs import Counts
from pbitsim.estimator.algorithms import ModelParams, register
from pbitsim.estimator.algorithms import _steps as S
from pbitsim.network.archs import Arch, Block
from pbitsim.rules.mf.cost import MF, projection


@register
class BSMF(MF):
    """MF on tiled p-bit units (``bsmf``): BSFF's hardware form applied to Mono-Forward.

    The network of BSFF (``Net(arch, tiles=M)``): every layer's linear output batch-normalised
    onto M tiles sampled by p-bits; the first layer multiplies the data, later layers
    index-and-accumulate the previous layer's counts. Projection ``M_i`` index-and-accumulates
    layer ``i``'s counts too; its input gradient ``g M_i^T`` (fp32) enters the counts, then the
    mean-field (or straight-through) gradient through the tiles and the batch norm.
    """


    def proj_forward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        stats = params.input_stats(arch, block.index + 1)
        return S.index_product(projection(block, arch.classes), stats, b)

    def layer_backward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        p, n = projection(block, arch.classes), b * block.linear.n_out
        c = S.real_product("input_grad", p, b)
        c.merge(params.estimator.backward_counts(n, params.tiles))
        return c.merge(costs.batchnorm_backward(n, S.channels(block.linear)))

    def weight_grads(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        p, lin = projection(block, arch.classes), block.linear
        c = S.index_weight_grad_product(p, params.input_stats(arch, block.index + 1), b)
        xin = params.input_stats(arch, block.index)
        if xin is None:
            return c.merge(S.real_weight_grad(lin, b))
        return c.merge(S.index_weight_grad(lin, xin, b, None,
                                           *S.reader_of(arch.blocks[block.index - 1])))
