"""CaFo DFA-CE: the blocks learn first by direct feedback alignment, then Rand-CE's predictors.

The block stage (``ModelParams.dfa_epochs`` epochs, by default the seeds' per data set): every
block runs forward in training mode (batch statistics, masks and pool indices kept); an
auxiliary head ``Linear(flat_L, C)`` on the last block gives the error ``e = softmax - onehot``
(its cross-entropy gradient); block ``i < L`` gets the output gradient ``e B_i`` (a fixed
``C x flat_i`` matrix read per multiply-accumulate), the last block its true gradient
``e W_aux^T``; each block's gradient runs back through its own norm, pool and ReLU (or the
tiles' mean field) into its weights, none into the block below. Blocks and head learn with
their own Adam. Then the predictor stages, greedy or online, as in Rand-CE (blocks frozen, batch
norms on the running statistics the block stage reached).
"""

from __future__ import annotations

from pbitsim.network import costs
from pbitsim.network.costs import FP, Counts
from pbitsim.estimator.algorithms import LayerCounts, ModelParams, register
from pbitsim.estimator.algorithms import _steps as S
from pbitsim.network.archs import Arch, Block, Dense
from pbitsim.rules.cafo_rand.cost import CafoRand, predictor
from pbitsim.schedules import dfa_epochs


@register
class CafoDFA(CafoRand):

    def dfa_epochs(self, params: ModelParams) -> int:
        return dfa_epochs(self.name, None, params.dfa_epochs)

    def block_backward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        """From the block output's gradient back through its norms, pool and activation."""
        lin = block.linear
        dtype = S.count_dtype(params.units.tiles) if self.tiled else FP
        c = Counts()
        for layer in reversed(block.post):
            c.merge(layer.backward_counts(b, dtype=dtype))
        if not self.tiled:
            return c.merge(costs.relu_backward(b * lin.n_out))
        c.merge(params.estimator.backward_counts(b * lin.n_out, params.units.tiles))
        return c.merge(costs.batchnorm_backward(b * lin.n_out, S.channels(lin)))

    def block_weight_grad(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        lin = block.linear
        xin = params.input_stats(arch, block.index) if self.tiled else None
        if xin is None:
            return S.real_weight_grad(lin, b)
        return S.index_weight_grad(lin, xin, b, None, *S.reader_of(arch.blocks[block.index - 1]))

    def dfa_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """One step of the block stage over a batch."""
        b, classes = params.batch_size, arch.classes
        last = len(arch.blocks) - 1
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe() + " + predictor")
            ph = row.phases
            ph["forward"].merge(self.block_forward(arch, block, params, b, learns=True,
                                                   batch_stats=True))
            flat = predictor(block, classes).n_in
            if block.index < last:  # e B_i
                feedback = Dense.of(f"B{block.index + 1}", flat, classes)
                ph["backward"].merge(S.real_product("input_grad", feedback, b))
            else:  # the auxiliary head: forward, loss, its weight gradient, e W^T
                aux = predictor(block, classes)
                ph["forward"].merge(self.reader_forward(arch, block, aux, params, b))
                ph["loss"].merge(costs.softmax_ce(b, classes, True))
                ph["weight_grad"].merge(self.reader_weight_grad(arch, block, aux, params, b))
                ph["backward"].merge(S.real_input_grad(aux, b))
                ph["update"].merge(costs.adam(aux.params))
            ph["backward"].merge(self.block_backward(arch, block, params, b))
            ph["weight_grad"].merge(self.block_weight_grad(arch, block, params, b))
            ph["update"].merge(costs.adam(S.block_params(block, pre_norm=self.tiled)))
            rows.append(row)
        return rows

    def params_count(self, arch: Arch) -> int:
        """Trainable parameters: blocks, auxiliary head and predictors."""
        return (sum(S.block_params(b, pre_norm=self.tiled) for b in arch.blocks)
                + predictor(arch.blocks[-1], arch.classes).params + super().params_count(arch))

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        lines = super().assumptions(arch, params)
        return lines[:1] + [f"{self.name}: block stage of {self.dfa_epochs(params)} epoch(s) "
                            "(the seeds': MNIST 5, F-MNIST 15, CIFAR-10 250, CIFAR-100 200) "
                            "before the predictors; feedback e B_i read per MAC"] + lines[1:]

    def _what(self) -> str:
        return ("blocks first learn by direct feedback alignment (aux head on the last block, "
                "fixed row-normalised Gaussian B_i, no backward between blocks)")
