"""BP: backpropagation through the whole network, real-valued (fp32), Adam.

One forward pass in training mode (ReLU, pools, batch norms (also before the ReLU where the
architecture says ``pre_norm``), the softmax head as the output
layer) keeping everything the backward pass needs until it gets there: every linear layer's
input (``stash_write``), ReLU masks (``u1``) and max-pool indices; then the gradient through
every layer (input gradients of every linear layer but the first) and every weight gradient;
one Adam step over all parameters. Inference: the forward pass and the head's argmax.
"""

from __future__ import annotations

from pbitsim.network import costs
from pbitsim.estimator.algorithms import Algorithm, LayerCounts, ModelParams, register
from pbitsim.estimator.algorithms import _steps as S
from pbitsim.network.archs import Arch


SAVED = "stash"


@register
class BP(Algorithm):

    def training_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        b, prec = params.batch_size, params.precision
        rows = []
        for block in arch.blocks:
            lin = block.linear
            row = LayerCounts(block.name, block.describe())
            fwd, bwd = row.phases["forward"], row.phases["backward"]
            fwd.merge(S.real_forward(lin, b, train=True, saved=SAVED, prec=prec))
            if arch.pre_norm:  # batch norm between the linear layer and its ReLU
                fwd.merge(costs.batchnorm(b * lin.n_out, S.channels(lin)))
            fwd.merge(costs.relu(b * lin.n_out, True, SAVED))
            for layer in block.post:
                fwd.merge(layer.forward_counts(b, train=True, saved=SAVED))
            for layer in reversed(block.post):
                bwd.merge(layer.backward_counts(b, saved=SAVED))
            bwd.merge(costs.relu_backward(b * lin.n_out, SAVED))
            if arch.pre_norm:
                bwd.merge(costs.batchnorm_backward(b * lin.n_out, S.channels(lin), SAVED))
            if block.index > 0:
                bwd.merge(S.real_input_grad(lin, b, prec))
            row.phases["weight_grad"].merge(S.real_weight_grad(lin, b, saved=SAVED, prec=prec))
            row.phases["update"].merge(costs.adam(S.block_params(block,
                                                                 pre_norm=arch.pre_norm)))
            if S.running_norms(arch, False):  # the batch-norm statistics recomputed at the end
                fwd.merge(S.calibration_forward(params, lambda n: S.block_forward(
                    arch, block, params, n, tiled=False, train=False, batch_stats=True,
                    pre_norm=arch.pre_norm)))
            rows.append(row)
        head = arch.head
        row = LayerCounts("head", head.describe())
        row.phases["forward"].merge(S.real_forward(head, b, train=True, saved=SAVED,
                                                  prec=prec))
        row.phases["loss"].merge(costs.softmax_ce(b, arch.classes, True))
        row.phases["backward"].merge(S.real_input_grad(head, b, prec))
        row.phases["weight_grad"].merge(S.real_weight_grad(head, b, saved=SAVED, prec=prec))
        row.phases["update"].merge(costs.adam(head.params))
        rows.append(row)
        return rows

    def inference_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        b, prec = params.batch_size, params.precision
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            fwd = row.phases["forward"]
            fwd.merge(S.real_forward(block.linear, b, train=False, prec=prec))
            if arch.pre_norm:
                fwd.merge(costs.batchnorm_eval(b * block.linear.n_out,
                                               S.channels(block.linear)))
            fwd.merge(costs.relu(b * block.linear.n_out, False))
            for layer in block.post:
                fwd.merge(layer.forward_counts(b, train=False))
            rows.append(row)
        row = LayerCounts("head", arch.head.describe())
        row.phases["forward"].merge(S.real_forward(arch.head, b, train=False, prec=prec))
        row.phases["forward"].merge(costs.argmax(b, arch.classes))
        rows.append(row)
        return rows

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        return [f"bp: {params.precision.describe()}, ReLU, Adam; linear-layer inputs, ReLU masks and pool indices kept "
                "for the backward pass (stash)"]

