"""BP: backpropagation through the whole network, real-valued (fp32), Adam.

The forward pass is FF's (one pass, ReLU, training-mode batch norm, the softmax head
as the output layer), but everything the backward pass needs is kept until the
backward pass reaches it: every block's input (``stash_write:fp32``), ReLU masks
(``u1``) and max-pool argmax indices (``u2``). The backward pass computes the input
gradient of every layer but the first, and the weight gradient of every layer.
Inference is FF's real-valued forward pass.
"""

from __future__ import annotations

from .. import ops
from ..archs import Arch
from . import Algorithm, LayerCounts, ModelParams, block_params, register
from .ff import FF

SAVED = "stash"


@register
class BP(Algorithm):
    name = "bp"
    title = "BP (backpropagation)"
    order = 0

    def training(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        batch = params.batch_size
        rows = []
        for block in arch.blocks:
            linear = block.linear
            row = LayerCounts(block.name, block.describe())
            fwd, bwd = row.phases["forward"], row.phases["backward"]
            fwd.add(f"{SAVED}_write:{ops.FP}", linear.n_in)
            fwd.merge(ops.linear_real(linear)).merge(ops.relu(linear.n_out, True, SAVED))
            for layer in block.post:
                if layer.type == "pool":
                    fwd.merge(ops.pool(layer, ops.FP, True, SAVED))
                elif layer.type == "batchnorm":
                    fwd.merge(ops.batchnorm_real(layer, batch))
                else:
                    fwd.merge(ops.layernorm_real(layer, sum_sq_known=False))
            # A norm layer's output is the next block's input: already stashed there.
            for layer in reversed(block.post):
                if layer.type == "pool":
                    bwd.merge(ops.pool_backward(layer, saved=SAVED))
                elif layer.type == "batchnorm":
                    bwd.merge(ops.batchnorm_backward(layer, saved=SAVED))
                else:
                    bwd.merge(ops.layernorm_backward(layer, saved=SAVED))
            bwd.merge(ops.relu_backward(linear.n_out, SAVED))
            if block.index > 0:
                bwd.merge(ops.input_grad_real(linear))
            row.phases["weight_grad"].merge(ops.weight_grad_real(linear, batch, SAVED))
            row.phases["update"].merge(ops.adam(block_params(block), batch))
            rows.append(row)
        head = arch.head
        row = LayerCounts("head", head.describe())
        row.phases["forward"].add(f"{SAVED}_write:{ops.FP}", head.n_in)
        row.phases["forward"].merge(ops.linear_real(head))
        row.phases["loss"].merge(ops.softmax_ce(arch.classes, train=True))
        row.phases["backward"].merge(ops.input_grad_real(head))
        row.phases["weight_grad"].merge(ops.weight_grad_real(head, batch, SAVED))
        row.phases["update"].merge(ops.adam(head.params, batch))
        rows.append(row)
        return rows

    def inference(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        return FF().inference(arch, params)

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        return ["bp: fp32, ReLU, Adam; block inputs, ReLU masks and pool indices kept "
                "for the backward pass (stash)"]
