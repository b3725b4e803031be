"""SFF (Scalable Forward-Forward, seed 002): the estimator walk, real-valued or on tiled p-bits.

Every block (conv -> batch norm -> activation -> its pool / layer norm) carries an auxiliary
goodness conv (``Arch.goodness_conv``: ``k x k`` to ``classes`` channels, with bias) on its
output; the goodness of class ``c`` is the spatial mean of the square of channel ``c``, and the
block's loss is the cross-entropy over its class goodnesses. Every block learns on every
minibatch from its own loss (its input detached: no gradient crosses blocks), each with its own
AdamW. Inference: the average of the blocks' goodness vectors (and the last block's), argmax.

Real-valued (``sff``): ReLU, everything fp32. Tiled (``bssff``, ``sff --tiles M``): BSFF's
p-bit net: the pre-activation batch norm feeds M tiles per unit, later layers and every goodness
conv index-and-accumulate the tile counts (the block's layer norm applied as a per-sample factor
on their outputs), the goodness conv's input gradient ``W^T g`` (fp32) enters the counts, then
the mean-field (or straight-through) gradient through the tiles and the batch norm.
"""

from __future__ import annotations

from pbitsim.network import costs, counters
from pbitsim.network.costs import FP, Counts
from pbitsim.estimator.algorithms import (Algorithm, LayerCounts, ModelParams, readout_step,
                                          register)
from pbitsim.estimator.algorithms import _steps as S
from pbitsim.network.archs import Arch, Block


@register
class SFF(Algorithm):

    def params_count(self, arch: Arch) -> int:
        """Trainable parameters: every block (with its pre-activation batch norm) and its
        goodness conv; no head."""
        return sum(S.block_params(b, pre_norm=True) + arch.goodness_conv(b).params
                   for b in arch.blocks)

    def model_params(self, arch: Arch) -> int:
        """The blocks and their goodness convs (no head): :meth:`params_count`."""
        return self.params_count(arch)

    # --- one block ---------------------------------------------------------------------------
    def block_forward(self, arch: Arch, block: Block, params: ModelParams, b: int,
                      train: bool) -> Counts:
        """Linear layer, pre-activation batch norm, activation and post layers (``train``:
        batch statistics, ReLU masks and pool indices kept)."""
        return S.block_forward(arch, block, params, b, tiled=self.tiled, train=train,
                               pre_norm=True)

    def goodness_forward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        """The goodness conv on the block output and the class goodnesses (spatial mean
        squares of its channels)."""
        g = arch.goodness_conv(block)
        if self.tiled:
            c = S.index_forward(g, params.input_stats(arch, block.index + 1), b,
                                *S.reader_of(block))
        else:
            c = S.real_forward(g, b, train=True)
        return c.merge(costs.goodness(b * g.n_out, b * arch.classes))

    def block_backward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        """From the goodness back to the linear layer's output: the goodness, the goodness
        conv's input gradient, the post layers, the activation and the batch norm."""
        g, lin = arch.goodness_conv(block), block.linear
        c = costs.goodness_backward(b * g.n_out).merge(S.real_input_grad(g, b))
        for layer in reversed(block.post):
            c.merge(layer.backward_counts(b, dtype=S.count_dtype(params.units.tiles)
                                          if self.tiled else FP))
        n = b * lin.n_out
        if not self.tiled:
            c.merge(costs.relu_backward(n))
        else:
            c.merge(params.estimator.backward_counts(n, params.units.tiles))
        return c.merge(costs.batchnorm_backward(n, S.channels(lin)))

    def weight_grads(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        g, lin = arch.goodness_conv(block), block.linear
        if self.tiled:
            c = S.index_weight_grad(g, params.input_stats(arch, block.index + 1), b, None,
                                    *S.reader_of(block))
        else:
            c = S.real_weight_grad(g, b)
        xin = params.input_stats(arch, block.index) if self.tiled else None
        if xin is None:
            return c.merge(S.real_weight_grad(lin, b))
        return c.merge(S.index_weight_grad(lin, xin, b, None,
                                           *S.reader_of(arch.blocks[block.index - 1])))

    # --- steps -------------------------------------------------------------------------------
    def training_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        self.check(arch)
        b = params.batch_size
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe() + " + goodness conv")
            ph = row.phases
            ph["forward"].merge(self.block_forward(arch, block, params, b, True))
            ph["forward"].merge(self.goodness_forward(arch, block, params, b))
            # the batch-norm statistics recomputed after training (the blocks, no goodness conv)
            ph["forward"].merge(S.calibration_forward(params, lambda n: S.block_forward(
                arch, block, params, n, tiled=self.tiled, train=False, batch_stats=True,
                pre_norm=True)))
            ph["loss"].merge(costs.softmax_ce(b, arch.classes, True))
            ph["backward"].merge(self.block_backward(arch, block, params, b))
            ph["weight_grad"].merge(self.weight_grads(arch, block, params, b))
            ph["update"].merge(costs.adamw(S.block_params(block, pre_norm=True)
                                           + arch.goodness_conv(block).params))
            rows.append(row)
        return rows

    def inference_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """Every block and its goodness; the goodness vectors summed (their average's argmax)
        and two argmaxes (average and last block)."""
        self.check(arch)
        b = params.batch_size
        last = len(arch.blocks) - 1

        def forward(block):
            g = arch.goodness_conv(block)
            return [self.block_forward(arch, block, params, b, False),
                    S.index_forward(g, params.input_stats(arch, block.index + 1), b,
                                    *S.reader_of(block)) if self.tiled
                    else S.real_forward(g, b, train=False),
                    costs.goodness(b * g.n_out, b * arch.classes)]

        return readout_step(arch, " + goodness conv", forward, lambda block: [
            costs.sum_predictions(last * b * arch.classes), costs.argmax(2 * b, arch.classes)])

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        k = arch.goodness_kernel if arch.goodness_kernel else 1
        how = (f"{self.name}: every block conv -> batch norm -> "
               + ("M = {} tiles (act u{}); later layers and the goodness convs "
                  "index-and-accumulate the counts, fp32 local gradients ({} through the "
                  "tiles)".format(params.units.tiles,
                                  counters.dtype_bits(counters.uint_dtype(params.units.tiles)),
                                  params.estimator)
                  if self.tiled else "ReLU, fp32")
               + f"; a {k}x{k} goodness conv per block to the classes, class goodness = spatial "
               "mean square, softmax CE per block, every block every minibatch (input "
               "detached), AdamW per block; inference: the blocks' goodness averaged, argmax")
        return [how]
