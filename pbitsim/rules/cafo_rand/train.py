"""CaFo's training step: Rand-CE here, DFA-CE (:mod:`pbitsim.rules.cafo_dfa.train`) on top."""

from __future__ import annotations

import math

import torch

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.bridge.counted import CountedLinear
from pbitsim.bridge.modules import BSNLinear, set_backend
from pbitsim.network.counters import OpCounter, active_counter, counting
from pbitsim.schedules import (CAFO_PATIENCE, DFA_STAGE, dfa_epochs, greedy_stopping,
                               held_out_loss, record_held_out)
from pbitsim.training.algorithms import VAL_KEY, Algorithm, register
from pbitsim.training.frozen import FrozenInputs
from pbitsim.training.helpers import adam, count_adam, cross_entropy
from pbitsim.training.models import Net


def _numel(shape) -> int:
    return math.prod(int(v) for v in shape)


def _frozen_norms(module: torch.nn.Module) -> None:
    """Every batch norm of ``module`` in evaluation mode (its running statistics), the rest as
    it is: CaFo's frozen blocks normalise with the statistics they have (Rand-CE: the initial
    ones, mean 0 and variance 1; DFA-CE: those its block epochs ended with)."""
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


@register
class CafoRand(FrozenInputs, Algorithm):
    """CaFo Rand-CE: blocks at their random init; predictor ``i`` = ``Linear(flat_i, C)`` + bias.

    The blocks are the architecture's (``Net`` without a head); they never learn and their batch
    norms keep their initial statistics. Predictor ``i`` reads block ``i``'s flattened output
    and learns by softmax cross-entropy with its own Adam. Prediction: the sum of the
    predictors' logits, argmax.

    The tiled form (``tiled``: ``bscafo-rand``/``bscafo-dfa``, what ``--tiles M`` selects): the
    blocks are tiled p-bit units (BSFF's network: every block's pre-activation batch-normalised
    into M tiles) and each predictor index-and-accumulates its block's tile counts (the block's
    batch norm folded into its weights).

    Schedules (``cfg.schedule``), after DFA-CE's block epochs: ``greedy`` (the seeds'): predictor
    ``k`` trains in epochs ``[k E, (k + 1) E)`` (``E = cfg.epochs``, the per-predictor cap),
    recomputing blocks ``0..k`` without gradients on every step, and stops early when its
    validation loss (the trainer's held-out split) has not improved by ``MF_MIN_DELTA`` for
    ``CAFO_PATIENCE`` epochs; ``online``: every predictor on every step for ``cfg.epochs``.
    The early-stopping state is part of :meth:`state_dict` (bit-identical resume mid-stage).

    Real-valued blocks are frozen and deterministic in the predictor stages, so the simulator
    computes their outputs once per stage (:mod:`pbitsim.training.frozen`) and counts their
    recompute on every step as the hardware does it; tiled blocks sample their p-bits anew on
    every step and are recomputed.
    """

    # its blocks' batch norms run in evaluation mode in training too: the predictors learn and
    # are tested on the same statistics, so there is nothing to recalibrate
    refreshes_norms = False
    #: The seeds' predictor Adam rate per data set (``configs/cafo/*_cnn_3block.yaml``: 0.001
    #: on MNIST and Fashion-MNIST; CIFAR-10 takes the same).
    LRS = {"mnist": 1e-3, "fashion-mnist": 1e-3, "cifar10": 1e-3}
    predictors = ("sum",)
    # ``tiled`` (its units'): tiled p-bit blocks and predictors reading their counts, in the
    # p-bit forms (``bscafo-rand``, ``bscafo-dfa``: ``--algo cafo-rand --tiles M``).

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        self.lr = cfg.lr if cfg.lr is not None else self.LRS.get(cfg.dataset, self.default_lr)
        if self.tiled:
            self.model = Net(self.net, tiles=self.tiles, estimator=cfg.estimator, seed=cfg.seed,
                             device=self.units.device, head=False)
        else:
            self.model = Net(self.net, head=False)
        self.flat = [_numel(b.out_shape) for b in self.net.blocks]
        self.preds = torch.nn.ModuleList(self._reader(f, classes, cfg) for f in self.flat)
        if self.tiled:
            set_backend(self.model, cfg.backend)
            set_backend(self.preds, cfg.backend)
        self.optims = [adam(p.parameters(), self.lr) for p in self.preds]
        self.block_epochs = dfa_epochs(self.name, cfg.dataset, cfg.dfa_epochs)  # 0: none
        self.greedy = self.schedule == "greedy"
        self.validation = self.greedy  # the trainer holds out a split for early stopping
        self.cap = cfg.epochs
        self.patience = CAFO_PATIENCE
        n = len(self.preds)
        self.stop = greedy_stopping(n)

    def dfa_epochs(self) -> int | None:
        """DFA-CE: the block stage's epochs; Rand-CE: None (no block stage)."""
        return self.block_epochs or None

    def caches_frozen(self) -> bool:
        """Real-valued blocks: a cache of their outputs for the predictor stages."""
        return not self.tiled

    def _reader(self, features: int, classes: int, cfg):
        """A linear layer over a block's flattened output (real) or tile counts (tiled)."""
        if self.tiled:
            return BSNLinear(features, classes, tiles_in=self.tiles, seed=cfg.seed)
        return CountedLinear(features, classes)

    # --- the run's layout: [DFA block epochs] + predictor stages --------------------------
    def run_epochs(self) -> int:
        stages = self.cap * len(self.preds) if self.greedy else self.cap
        return self.block_epochs + stages

    def stage(self, epoch: int):
        """``DFA_STAGE``, the greedy predictor index, or None (online predictors)."""
        e = epoch - self.block_epochs
        if e < 0:
            return DFA_STAGE
        return e // self.cap if self.greedy else None

    def epoch_name(self, epoch: int, total: int) -> str:
        """``blocks (DFA), epoch 3/5`` in DFA-CE's block stage; greedy: ``predictor 2/3, epoch
        1/1`` (each predictor is a stage of ``--epochs``); online: ``epoch 1/1``."""
        stage, dfa = self.stage(epoch), self.block_epochs
        if stage == DFA_STAGE:
            return f"blocks (DFA), epoch {epoch + 1}/{dfa}"
        e = epoch - dfa
        if stage is None:
            return f"epoch {e + 1}/{self.cap}"
        return f"predictor {stage + 1}/{len(self.preds)}, epoch {e % self.cap + 1}/{self.cap}"

    def skip_epoch(self, epoch: int) -> bool:
        """Greedy: the epoch belongs to a predictor that stopped early."""
        stage = self.stage(epoch)
        return isinstance(stage, int) and self.stop["done"][stage]

    # --- forward pieces --------------------------------------------------------------------
    def _blocks(self, x, seed_key, upto=None):
        """Every block's output (``upto``: blocks ``0..upto``) and, tiled, its counts."""
        counts = [] if self.tiled else None
        ys, _ = self.model.blocks(x, seed_key, local=True, upto=upto, counts=counts)
        return ys, counts

    def _read(self, layer, i, ys, counts):
        """``layer`` (a predictor, or DFA's auxiliary head) on block ``i``'s output."""
        if not self.tiled:
            return layer(ys[i].flatten(1))
        flat, scale, shift, rows = counts[i]
        return layer(flat, scale, shift, row_scale=rows)

    def _predictor_loss(self, x, y, stage, seed_key, rows=None):
        last = len(self.preds) - 1
        upto = last if stage is None else stage
        which = range(upto + 1) if stage is None else (stage,)
        cached = None
        if self.frozen is not None and rows is not None:
            def frozen(xb):
                ys, _ = self._blocks(xb, seed_key, upto)
                return [ys[i].flatten(1) for i in which]
            cached = self.frozen.read(("predictors", stage), frozen,
                                      [self.flat[i] for i in which], x, rows)
        if cached is None:
            with torch.no_grad():
                ys, counts = self._blocks(x, seed_key, upto)
        loss, total = 0.0, None
        for j, i in enumerate(which):
            logits = (self.preds[i](cached[j]) if cached is not None
                      else self._read(self.preds[i], i, ys, counts))
            loss = loss + cross_entropy(logits, y)
            total = logits.detach() if total is None else total + logits.detach()
        return loss, total, which

    def _mode(self) -> None:
        """Predictor stages: the blocks run frozen (batch norms on their running statistics)."""
        self.model.train(True)
        _frozen_norms(self.model)
        self.preds.train(True)

    # --- training --------------------------------------------------------------------------
    def train_step(self, x, y, seed_key, frac: float, rows=None):
        stage = self.stage(seed_key[0])
        if stage == DFA_STAGE:
            return self.dfa_step(x, y, seed_key)
        self._mode()
        loss, logits, which = self._predictor_loss(x, y, stage, seed_key, rows)
        for i in which:
            self.optims[i].zero_grad(set_to_none=True)
        loss.backward()
        for i in which:
            self.optims[i].step()
        count_adam([list(self.preds[i].parameters()) for i in which])
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    def dfa_step(self, x, y, seed_key):
        raise NotImplementedError("Rand-CE has no block stage")  # DFA-CE overrides it

    @torch.no_grad()
    def end_epoch(self, epoch: int, batches) -> dict:
        """Count the epoch for its predictor(s); greedy: validation loss and early stopping."""
        stage = self.stage(epoch)
        if stage == DFA_STAGE:
            return {"stage": "blocks (DFA)"}
        for i in (range(len(self.preds)) if stage is None else (stage,)):
            self.stop["epochs"][i] += 1
        if stage is None:
            return {}
        self._mode()
        self.model.train(False)
        with counting(OpCounter()):  # validation is not part of the training counts
            val = held_out_loss(lambda x, y, n: self._predictor_loss(
                x, y, stage, (VAL_KEY, epoch, n), self.held_out_rows(n, len(y)))[0], batches)
        record_held_out(self.stop, stage, val, self.patience)
        return {"predictor": stage + 1, "val_loss": val}

    def layer_epochs(self) -> list[int] | None:
        """Epochs each predictor trained (greedy), None online."""
        return list(self.stop["epochs"]) if self.greedy else None

    def extra_index_layers(self) -> list:
        """Tiled: the last predictor reads the last block's counts (the head's place in the
        statistics the estimator takes)."""
        return [self.preds[-1]] if self.tiled else []

    def layer_density(self) -> list[float]:
        return self.model.layer_density() if self.tiled else []

    def state_dict(self) -> dict:
        return {**super().state_dict(), "preds": self.preds.state_dict(),
                "stop": {k: list(v) for k, v in self.stop.items()}}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.preds.load_state_dict(state["preds"])
        self.stop = {k: list(v) for k, v in state["stop"].items()}

    @torch.no_grad()
    def predict(self, x, seed_key):
        self.model.train(False)
        self.preds.train(False)
        ys, counts = self._blocks(x, seed_key)
        logits = None
        for i, p in enumerate(self.preds):
            out = self._read(p, i, ys, counts)
            logits = out if logits is None else logits + out
        b = x.shape[0]
        tally.record(active_counter(), costs.sum_predictions((len(self.preds) - 1) * b
                                                             * self.classes))
        tally.record(active_counter(), costs.argmax(b, self.classes))
        return {"sum": logits.argmax(1)}
