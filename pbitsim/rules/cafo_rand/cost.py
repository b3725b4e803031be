"""CaFo Rand-CE (and the walk DFA-CE extends): frozen blocks, one linear CE predictor per block.

Predictor ``i`` is ``Linear(flat_i, C)`` with bias on block ``i``'s flattened output, trained by
softmax cross-entropy with its own Adam; the blocks stay at their random initialisation, batch
norms on their initial statistics (evaluation mode). Inference: every block once, every
predictor, the logits summed, argmax.

Schedules, as ``pbitsim train --schedule``:

* ``greedy`` (the seeds' runs): predictor 1 trains for its epochs, then predictor 2, ...; every
  step of stage ``k`` recomputes blocks ``1..k`` (no activation cache, no gradients) and runs
  none above. ``ModelParams.layer_epochs`` gives each stage's epochs; a training step is then
  the epoch-weighted mean of the stage steps and a run lasts ``sum(layer_epochs)`` epochs.
* ``online``: every block once and every predictor on every step.

The tiled form (``tiled``; the rules ``bscafo-rand`` and ``bscafo-dfa``, what ``--algo cafo-rand
--tiles M`` runs): the blocks are BSFF's tiled p-bit units and the predictors index-and-accumulate
the tile counts (the block's batch norm folded in).
"""

from __future__ import annotations

from pbitsim.network import costs
from pbitsim.network.costs import Counts
from pbitsim.estimator.algorithms import (
    Algorithm, LayerCounts, ModelParams, readout_step, register, staged_step, weighted_step)
from pbitsim.estimator.algorithms import _steps as S
from pbitsim.network.archs import Arch, Block, Dense, Layer
from pbitsim.schedules import DFA_STAGE



def predictor(block: Block, classes: int) -> Layer:
    """Predictor ``i`` of a block: dense ``flat_i -> classes`` with bias."""
    n = 1
    for v in block.out_shape:
        n *= v
    return Dense.of(f"P{block.index + 1}", n, classes)


@register
class CafoRand(Algorithm):
    #: What a greedy stage trains (the schedules table's rows).
    stage_noun = "predictor"

    # --- one block and its predictor ------------------------------------------------------
    def block_forward(self, arch: Arch, block: Block, params: ModelParams, b: int, *,
                      learns: bool, batch_stats: bool) -> Counts:
        """The block's layer, activation, pool and norms (``learns``: masks and pool indices
        kept; ``batch_stats``: batch norms on batch statistics)."""
        return S.block_forward(arch, block, params, b, tiled=self.tiled, train=learns,
                               batch_stats=batch_stats)

    def reader_forward(self, arch: Arch, block: Block, layer: Layer, params: ModelParams,
                       b: int) -> Counts:
        """A linear layer (predictor or DFA's auxiliary head) on block ``block``'s output."""
        if not self.tiled:
            return S.real_forward(layer, b, train=False)
        stats = params.input_stats(arch, block.index + 1)
        return S.index_forward(layer, stats, b, *S.reader_of(block))

    def reader_weight_grad(self, arch: Arch, block: Block, layer: Layer, params: ModelParams,
                           b: int) -> Counts:
        if not self.tiled:
            return S.real_weight_grad(layer, b)
        stats = params.input_stats(arch, block.index + 1)
        return S.index_weight_grad(layer, stats, b, None, *S.reader_of(block))

    def predictor_training(self, arch: Arch, block: Block, params: ModelParams,
                           b: int) -> dict[str, Counts]:
        """Predictor ``i``'s forward, loss, weight gradient and Adam step, by phase."""
        p = predictor(block, arch.classes)
        return {"forward": self.reader_forward(arch, block, p, params, b),
                "loss": costs.softmax_ce(b, arch.classes, True),
                "weight_grad": self.reader_weight_grad(arch, block, p, params, b),
                "update": costs.adam(p.params)}

    # --- the steps -------------------------------------------------------------------------
    def stage_step(self, arch: Arch, params: ModelParams, stage) -> list[LayerCounts]:
        """One step over a batch of greedy stage ``stage`` (predictor ``stage`` learns, blocks
        ``0..stage`` recomputed frozen, none above), online (``None``: every block once, every
        predictor), or ``DFA_STAGE`` (CaFo-DFA's block epochs)."""
        self.check(arch)
        if stage == DFA_STAGE:
            return self.dfa_step(arch, params)
        b = params.batch_size
        return staged_step(arch, stage, " + predictor", lambda block, learns: (
            self.block_forward(arch, block, params, b, learns=False, batch_stats=False)),
            lambda block: self.predictor_training(arch, block, params, b))

    def dfa_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        raise ValueError(f"{self.name} has no block stage")

    def stages(self, params: ModelParams) -> list[tuple[int, object]]:
        """``(epochs, stage)`` of a run: the block stage (DFA), then greedy's predictor stages
        (``layer_epochs``) or the online epochs (``params.epochs``)."""
        out = [(self.dfa_epochs(params), DFA_STAGE)] if self.dfa_epochs(params) else []
        if params.layer_epochs is None:
            return out + [(params.epochs, None)]
        return out + [(e, k) for k, e in enumerate(params.layer_epochs)]

    def training_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        """The run's mean step: its stages' steps weighted by their epochs."""
        if params.layer_epochs is not None and len(params.layer_epochs) != len(arch.blocks):
            raise ValueError(f"--layer-epochs: {len(params.layer_epochs)} values for the "
                             f"{len(arch.blocks)} predictors of {arch.name}")
        return weighted_step((e, self.stage_step(arch, params, stage))
                             for e, stage in self.stages(params))

    def inference_step(self, arch: Arch, params: ModelParams) -> list[LayerCounts]:
        self.check(arch)
        b = params.batch_size
        return readout_step(arch, " + predictor", lambda block: [
            self.block_forward(arch, block, params, b, learns=False, batch_stats=False),
            self.reader_forward(arch, block, predictor(block, arch.classes), params, b)],
            lambda block: [  # the logits summed, argmax
                costs.sum_predictions((len(arch.blocks) - 1) * b * arch.classes),
                costs.argmax(b, arch.classes)])

    def run_epochs(self, params: ModelParams, epochs: int) -> int:
        """Epochs of a run: the block stage, then greedy's stages or ``epochs`` online."""
        stages = sum(params.layer_epochs) if params.layer_epochs is not None else epochs
        return self.dfa_epochs(params) + stages

    def params_count(self, arch: Arch) -> int:
        """Trainable parameters: the predictors (Rand-CE's blocks never learn)."""
        return sum(predictor(b, arch.classes).params for b in arch.blocks)

    def model_params(self, arch: Arch) -> int:
        """The blocks (frozen in Rand-CE), the predictors and (DFA-CE) the auxiliary head the
        blocks learn through; no softmax head."""
        blocks = sum(S.block_params(b, pre_norm=self.tiled or arch.pre_norm) for b in arch.blocks)
        trained = self.params_count(arch)
        # DFA-CE's count already holds its blocks (they learn); Rand-CE's holds the predictors
        return trained if self.rule.dfa_blocks else blocks + trained

    def assumptions(self, arch: Arch, params: ModelParams) -> list[str]:
        form = (f"tiled p-bit blocks, M = {params.units.tiles}; predictors "
                "index-and-accumulate the counts (batch norm folded)" if self.tiled
                else "fp32, ReLU")
        if params.layer_epochs is None:
            how = "online schedule: every block once and every predictor on every step"
        else:
            how = (f"greedy schedule (the seeds' runs): predictor epochs "
                   f"{', '.join(map(str, params.layer_epochs))}; stage k recomputes blocks "
                   "1..k frozen on every step, runs none above")
        return [f"{self.name}: {self._what()}; predictor i = Linear(flat_i, classes) + bias, "
                f"softmax CE, Adam each; inference sums the predictors' logits; {form}; {how}; "
                "held-out validation passes not counted",
                f"{self.name} seeds: measured GPU energy of CaFo is not given in numbers in the "
                "seeds available here (001/004 state only that Rand-CE is cheap and inaccurate "
                "and DFA-CE accurate and costly for its block pre-training); no measured ratio "
                "vs BP is printed"]

    def _what(self) -> str:
        return "blocks frozen at their random init, batch norms on the initial statistics"


__all__ = ["CafoRand", "predictor", "DFA_STAGE"]
