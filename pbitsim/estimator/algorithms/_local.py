"""The forward-forward family's step walk (:class:`LocalRule`), shared by the rules in
:mod:`pbitsim.rules` that train block-local losses. Forward-forward, real-valued: Hinton's FF and the channel-wise competitive CwC-FF.

Each block learns from its own loss; nothing is kept across blocks for a backward pass.

Both train as ``pbitsim train`` trains them, on the architectures whose rule they fit
(:func:`pbitsim.network.arch_rules.arch_rule`):

* ``cwc`` (CwC-FF, the BSFF paper's base): one pass per sample; the goodness of a class is the
  mean square of its channel group on the block output (after batch norm); cross-entropy over
  the class goodnesses; the gradient flows back through the block's pool and batch norm. A
  linear softmax head on the last block's (detached) output learns alongside. Inference: one
  pass, the head's and the last block's goodness predictions.
* ``ff`` (Hinton's FF, on all-dense networks): a positive and a negative pass per sample (label embedded in the input), every
  layer's input RMS-normalised; goodness = mean square of the layer's activity; the symmetric
  pairwise loss; no head. Inference runs one pass per class and sums the goodness of every
  layer but the first.

The walk here is the trainer's step (``pbitsim.training``) in :mod:`pbitsim.network.costs` terms;
:class:`LocalRule` also carries the tiled p-bit form that BSFF and BGBSFF use.
"""

from __future__ import annotations

from ...network import costs
from ...network.costs import FP, Counts
from ...network.gradients import Quantizer
from ...network.archs import Arch, Block
from . import Algorithm, LayerCounts, ModelParams
from . import _steps as S


class LocalRule(Algorithm):
    """A forward-forward-style rule: per-block local losses, per-block Adam (the head's too).

    Class attributes pick the form: ``variant`` (``cwc`` or ``hinton``),
    ``tiled`` (blocks as tiled p-bit units; later layers index-and-accumulate their counts),
    ``quantized`` (BGBSFF: errors quantized before the weight gradients).
    """

    variant = "cwc"
    tiled = False
    quantized = False
    scheduled = True  # the CwC family follows the freezing schedule; Hinton's FF does not

    def _variant(self, arch: Arch) -> str:
        return self.variant

    # --- one block -------------------------------------------------------------------------
    def _quant(self, params: ModelParams) -> Quantizer | None:
        return params.grad_quant if self.quantized else None

    def block_forward(self, arch: Arch, block: Block, params: ModelParams, train: bool,
                      b: int, batch_stats: bool | None = None) -> Counts:
        """Linear layer, activation and post layers of one pass of ``b`` samples.

        ``train``: the block learns (ReLU masks and pool indices kept); ``batch_stats``: batch
        norms use batch statistics (training mode, also for frozen blocks; default ``train``).
        """
        post = None if self.tiled else self._post_run(arch, block)
        return S.block_forward(arch, block, params, b, tiled=self.tiled, train=train,
                               batch_stats=batch_stats, post=post)

    def _post_run(self, arch: Arch, block: Block):
        """The post layers the network runs: Hinton's FF takes the goodness before the first
        normalisation, and the last block (no head reads it) stops there."""
        if self._variant(arch) != "hinton" or block.index < len(arch.blocks) - 1:
            return block.post
        out = []
        for layer in block.post:
            if layer.is_norm:
                break
            out.append(layer)
        return tuple(out)

    def block_backward(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        """The local gradient from the goodness back to the weights (one pass)."""
        lin = block.linear
        n_at = b * _numel(block.out_shape) if self._variant(arch) == "cwc" else b * lin.n_out
        c = costs.goodness_backward(n_at)
        dtype = S.count_dtype(params.units.tiles) if self.tiled else FP
        if self._variant(arch) == "cwc":
            for layer in reversed(block.post):
                c.merge(layer.backward_counts(b, dtype=dtype))
        if not self.tiled:
            c.merge(costs.relu_backward(b * lin.n_out))
            return c
        c.merge(params.estimator.backward_counts(b * lin.n_out, params.units.tiles))
        c.merge(costs.batchnorm_backward(b * lin.n_out, S.channels(lin)))
        return c

    def block_weight_grad(self, arch: Arch, block: Block, params: ModelParams, b: int) -> Counts:
        lin, quant = block.linear, self._quant(params)
        xin = params.input_stats(arch, block.index) if self.tiled else None
        if xin is not None:
            fold, rows = S.reader_of(arch.blocks[block.index - 1])
            return S.index_weight_grad(lin, xin, b, quant, fold, rows,
                                       prec=params.precision)
        c = Counts()
        if quant is not None:
            c.merge(quant.counts(b * lin.n_out))
        return c.merge(S.real_weight_grad(lin, b, quant=quant, prec=params.precision))

    def block_update(self, block: Block, params: ModelParams) -> Counts:
        n = S.block_params(block, pre_norm=self.tiled)
        if self.quantized and params.update == "shift":
            return costs.shift_update(n)
        return costs.adam(n)

    def goodness(self, arch: Arch, block: Block, b: int) -> Counts:
        if self._variant(arch) == "cwc":
            return costs.goodness(b * _numel(block.out_shape), b * arch.classes)
        return costs.goodness(b * block.linear.n_out, b)

    # --- the step --------------------------------------------------------------------------
    def training_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        self.check(arch)
        b = params.batch_size
        hinton = self._variant(arch) == "hinton"
        passes = 2 if hinton else 1
        calibrates = not hinton and S.running_norms(arch, self.tiled)
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            ph = row.phases
            live = params.live_fraction(block.index) if self.scheduled else 1.0
            fwd = Counts()
            if hinton and block.index == 0:  # FF normalises its (label-carrying) input
                fwd.merge(costs.rms_norm(b * block.linear.n_in, b))
            fwd.merge(self.block_forward(arch, block, params, train=live > 0, b=b))
            if live < 1:  # frozen steps: no ReLU masks or pool indices kept
                frozen = self.block_forward(arch, block, params, train=False, b=b,
                                            batch_stats=True)
                fwd = fwd.scaled(live).merge(frozen.scaled(1 - live))
            ph["forward"].merge(fwd.scaled(passes))
            if calibrates:  # the batch-norm statistics recomputed after training
                ph["forward"].merge(S.calibration_forward(params, lambda n: self.block_forward(
                    arch, block, params, train=False, b=n, batch_stats=True)))
            loss = self.goodness(arch, block, b).scaled(passes)
            loss.merge(costs.ff_pair_loss(b) if hinton else costs.softmax_ce(b, arch.classes, True))
            ph["loss"].merge(loss.scaled(live))
            ph["backward"].merge(self.block_backward(arch, block, params, b).scaled(passes * live))
            ph["weight_grad"].merge(
                self.block_weight_grad(arch, block, params, b).scaled(passes * live))
            ph["update"].merge(self.block_update(block, params).scaled(live))
            rows.append(row)
        if not hinton:
            rows.append(self.head_training(arch, params))
        return rows

    def head_training(self, arch: Arch, params: ModelParams) -> LayerCounts:
        """The softmax classifier: learns on the (detached) last block output."""
        head, b = arch.head, params.batch_size
        xin = params.input_stats(arch, len(arch.blocks)) if self.tiled else None
        row = LayerCounts("head", head.describe())
        ph = row.phases
        if xin is None:
            ph["forward"].merge(S.real_forward(head, b, train=True, prec=params.precision))
            ph["weight_grad"].merge(S.real_weight_grad(head, b, prec=params.precision))
        else:
            fold, rows = S.reader_of(arch.blocks[-1])
            ph["forward"].merge(S.index_forward(head, xin, b, fold, rows,
                                                     prec=params.precision))
            ph["weight_grad"].merge(S.index_weight_grad(head, xin, b, None, fold, rows,
                                                         prec=params.precision))
        ph["loss"].merge(costs.softmax_ce(b, arch.classes, True))
        ph["update"].merge(costs.adam(head.params))
        return row

    def inference_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        self.check(arch)
        b = params.batch_size
        if self._variant(arch) == "hinton":
            return self._hinton_inference(arch, params, b)
        passes = params.eval_samples if self.tiled else 1
        rows = []
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            fwd = self.block_forward(arch, block, params, train=False, b=b)
            if block.index == len(arch.blocks) - 1:  # the goodness predictor ("avg")
                fwd.merge(self.goodness(arch, block, b))
            row.phases["forward"].merge(fwd.scaled(passes))
            rows.append(row)
        head = arch.head
        row = LayerCounts("head", head.describe())
        xin = params.input_stats(arch, len(arch.blocks)) if self.tiled else None
        fwd = (S.real_forward(head, b, train=False, prec=params.precision) if xin is None
               else S.index_forward(head, xin, b, *S.reader_of(arch.blocks[-1]),
                                    prec=params.precision))
        row.phases["forward"].merge(fwd.scaled(passes))
        row.phases["forward"].merge(costs.sum_predictions((passes - 1) * 2 * b * arch.classes))
        row.phases["forward"].merge(costs.argmax(2 * b, arch.classes))
        rows.append(row)
        return rows

    def _hinton_inference(self, arch: Arch, params: ModelParams, b: int) -> list[LayerCounts]:
        """One pass per candidate label; the goodness of every layer but the first summed."""
        rows = []
        last = len(arch.blocks) - 1
        for block in arch.blocks:
            row = LayerCounts(block.name, block.describe())
            fwd = costs.rms_norm(b * block.linear.n_in, b) if block.index == 0 else Counts()
            fwd.merge(self.block_forward(arch, block, params, train=False, b=b))
            if block.index > 0:
                fwd.merge(self.goodness(arch, block, b))
            row.phases["forward"].merge(fwd.scaled(arch.classes))
            if block.index == last:
                row.phases["forward"].merge(
                    costs.elementwise(b * arch.classes * max(0, last - 1), add=1, writes=0))
                row.phases["forward"].merge(costs.argmax(b, arch.classes))
            rows.append(row)
        return rows

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        if self._variant(arch) == "cwc":
            how = "CwC-FF: one pass per sample, class-group goodness on the batch-norm output"
        else:
            how = ("Hinton FF: positive + negative pass per sample, RMS-normalised layer inputs, "
                   "one pass per class at inference")
        return [f"{self.name}: {how}; {params.precision.describe()}, ReLU, Adam; no "
                "activations kept across blocks"]


def _numel(shape) -> int:
    n = 1
    for v in shape:
        n *= v
    return n
