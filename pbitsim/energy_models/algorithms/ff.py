"""Forward-forward, real-valued: Hinton's FF and the channel-wise competitive CwC-FF.

Each block learns from its own loss; nothing is kept across blocks for a backward pass.

* ``cwc`` (CwC-FF, the BSFF paper's base): one pass per sample; the goodness of a
  class is the mean square of its channel group on the block output (after batch
  norm); cross-entropy over the class goodnesses; the gradient flows back through the
  block's pool and batch norm.
* ``hinton``: a positive and a negative pass per sample (label embedded in the input);
  goodness = sum of squares of the block's activity before normalization; a logistic
  loss; the gradient flows back through pooling only.

A linear softmax head on the last block's output learns alongside (one pass). The
walk here is shared by BSFF and BGBSFF, which override the per-layer hooks.
"""

from __future__ import annotations

from .. import ops
from ..archs import Arch, Block, Layer
from ..counts import Counts
from ..tiles import TileStats
from . import Algorithm, LayerCounts, ModelParams, block_params, register

NORMS = ("batchnorm", "layernorm")


@register
class FF(Algorithm):
    name = "ff"
    title = "FF (real-valued forward-forward)"
    order = 10

    # --- the walk -------------------------------------------------------------------
    def training(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        passes = 2 if arch.ff_variant == "hinton" else 1
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            ph = row.phases
            xin = self.block_input(arch, params, block.index)
            ph["forward"].merge(self.linear_forward(block.linear, xin))
            ph["forward"].merge(self.activation(block.linear, params, train=True))
            through, at = self.loss_point(block, arch.ff_variant)
            for layer in block.post:
                shared = layer.type == "layernorm" and arch.ff_variant == "hinton"
                ph["forward"].merge(self.post_forward(arch, block, layer, params, True, shared))
            ph["loss"].merge(self.goodness(arch, block, at, params))
            ph["backward"].merge(self.local_grad(at.n_out if at else block.linear.n_out,
                                                 params))
            for layer in reversed(through):
                ph["backward"].merge(self.post_backward(layer, params))
            ph["backward"].merge(self.activation_backward(block.linear, params))
            ph["weight_grad"].merge(self.weight_grad(block.linear, xin, params))
            for phase in ("forward", "loss", "backward", "weight_grad"):
                ph[phase] = ph[phase].scaled(passes)
            ph["update"].merge(self.update(block, xin, params))
            rows.append(row)
        rows.append(self.head_training(arch, params))
        return rows

    def inference(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            fwd = row.phases["forward"]
            fwd.merge(self.linear_forward(block.linear, self.block_input(arch, params,
                                                                          block.index)))
            fwd.merge(self.activation(block.linear, params, train=False))
            for layer in block.post:
                fwd.merge(self.post_forward(arch, block, layer, params, False, False))
            rows.append(row)
        head = LayerCounts("head", arch.head.describe())
        head.phases["forward"].merge(
            self.linear_forward(arch.head, self.block_input(arch, params, len(arch.blocks))))
        head.phases["forward"].merge(ops.argmax(arch.classes))
        rows.append(head)
        return rows

    def head_training(self, arch: Arch, params: ModelParams) -> LayerCounts:
        """The softmax classifier: learns on the (detached) last block output."""
        head = arch.head
        xin = self.block_input(arch, params, len(arch.blocks))
        row = LayerCounts("head", head.describe())
        row.phases["forward"].merge(self.linear_forward(head, xin))
        row.phases["loss"].merge(ops.softmax_ce(arch.classes, train=True))
        row.phases["weight_grad"].merge(self.head_weight_grad(head, xin, params))
        row.phases["update"].merge(ops.adam(head.params, params.batch_size))
        return row

    @staticmethod
    def loss_point(block: Block, variant: str) -> tuple[tuple[Layer, ...], Layer | None]:
        """Post layers the local gradient flows back through, and the layer whose
        output the goodness is taken on (None: the linear layer's activation)."""
        if variant == "cwc":
            through = block.post
        else:
            through = tuple(l for l in block.post if l.type not in NORMS)
        return through, (through[-1] if through else None)

    # --- hooks: what the numbers are made of (real fp32 here) -------------------------
    def block_input(self, arch: Arch, params: ModelParams, index: int) -> TileStats | None:
        """Statistics of binary inputs, or None for real-valued inputs (always, here)."""
        return None

    def linear_forward(self, layer: Layer, xin: TileStats | None) -> Counts:
        return ops.linear_real(layer)

    def activation(self, layer: Layer, params: ModelParams, train: bool) -> Counts:
        """The nonlinearity on ``layer``'s output."""
        return ops.relu(layer.n_out, train)

    def activation_backward(self, layer: Layer, params: ModelParams) -> Counts:
        return ops.relu_backward(layer.n_out)

    def post_forward(self, arch: Arch, block: Block, layer: Layer, params: ModelParams,
                     train: bool, sum_sq_known: bool) -> Counts:
        if layer.type == "pool":
            return ops.pool(layer, ops.FP, train)
        if layer.type == "batchnorm":
            # At inference batch norm is folded into the next layer's weights.
            return ops.batchnorm_real(layer, params.batch_size) if train else Counts()
        return ops.layernorm_real(layer, sum_sq_known)

    def post_backward(self, layer: Layer, params: ModelParams) -> Counts:
        if layer.type == "pool":
            return ops.pool_backward(layer)
        if layer.type == "batchnorm":
            return ops.batchnorm_backward(layer)
        return ops.layernorm_backward(layer)

    def goodness(self, arch: Arch, block: Block, at: Layer | None,
                 params: ModelParams) -> Counts:
        n = at.n_out if at else block.linear.n_out
        return ops.goodness_real(n, arch.classes, arch.ff_variant)

    def local_grad(self, n: int, params: ModelParams) -> Counts:
        return ops.local_grad_real(n)

    def weight_grad(self, layer: Layer, xin: TileStats | None, params: ModelParams) -> Counts:
        return ops.weight_grad_real(layer, params.batch_size)

    def head_weight_grad(self, layer: Layer, xin: TileStats | None,
                         params: ModelParams) -> Counts:
        return self.weight_grad(layer, xin, params)

    def update(self, block: Block, xin: TileStats | None, params: ModelParams) -> Counts:
        return ops.adam(block_params(block), params.batch_size)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        if arch.ff_variant == "cwc":
            how = "CwC-FF: one pass per sample, class-group goodness on the batch-norm output"
        else:
            how = "Hinton FF: positive + negative pass per sample, goodness = sum of squares"
        return [f"{self.name}: {how}; fp32, ReLU, Adam; no activations kept across blocks"]
