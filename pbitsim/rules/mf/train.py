"""Mono-Forward's training step (greedy or online)."""

from __future__ import annotations

import math

import torch

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.bridge.counted import CountedLinear
from pbitsim.bridge.modules import BSNLinear, set_backend
from pbitsim.network.counters import OpCounter, active_counter, counting
from pbitsim.schedules import MF_PATIENCE, greedy_stopping, held_out_loss, record_held_out
from pbitsim.training.algorithms import VAL_KEY, Algorithm, register
from pbitsim.training.helpers import adam, count_adam, cross_entropy
from pbitsim.training.frozen import FrozenInputs
from pbitsim.training.models import Net


@register
class MF(FrozenInputs, Algorithm):
    """Mono-Forward: every layer learns from its own projection ``M_i`` onto the classes.

    Real-valued ReLU layers (the architecture's ``Net`` without a head); each layer's input is
    detached; ``M_i`` (``classes x n_i``, no bias, Kaiming-uniform as ``nn.Linear``) maps its
    activity to class goodnesses whose softmax cross-entropy trains ``W_i``, ``b_i`` and ``M_i``
    with the layer's own Adam. Prediction: argmax of the last layer's goodness.

    Schedules (``cfg.schedule``): ``online`` trains every layer on every step for
    ``cfg.epochs``; ``greedy`` trains layer ``k`` in epochs ``[k E, (k + 1) E)`` (``E =
    cfg.epochs``, the per-layer cap), recomputing the frozen layers below on every step, and
    stops a layer early when its validation loss (on the trainer's held-out split) has not
    improved by ``MF_MIN_DELTA`` for the data set's patience (``MF_PATIENCE``); its remaining
    epochs are skipped (:meth:`skip_epoch`). The early-stopping state is part of
    :meth:`state_dict`, so a run resumed mid-layer continues bit-identically. Real-valued
    frozen layers are computed once per greedy stage (:mod:`pbitsim.training.frozen`), their
    recompute counted on every step.
    """

    predictors = ("last",)

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        if self.tiled:  # BSFF's tiled p-bit net; projections index-and-accumulate the counts
            self.model = Net(self.net, tiles=self.tiles, estimator=cfg.estimator, seed=cfg.seed,
                             device=self.units.device, head=False)
            self.projs = torch.nn.ModuleList(
                BSNLinear(b.linear.n_out, classes, tiles_in=self.tiles, bias=False,
                          seed=cfg.seed) for b in self.net.blocks)
            set_backend(self.model, cfg.backend)
            set_backend(self.projs, cfg.backend)
        else:
            self.model = Net(self.net, head=False)
            self.projs = torch.nn.ModuleList(
                CountedLinear(b.linear.n_out, classes, bias=False) for b in self.net.blocks)
        self.groups = [g + list(p.parameters())
                       for g, p in zip(self.model.layer_groups(), self.projs)]
        self.optims = [adam(g, self.lr) for g in self.groups]
        self.greedy = self.schedule == "greedy"
        self.validation = self.greedy  # the trainer holds out a split for early stopping
        n = len(self.groups)
        self.cap = cfg.epochs
        self.patience = MF_PATIENCE.get(cfg.dataset, 5)
        self.stop = greedy_stopping(n)

    def run_epochs(self) -> int:
        """Epochs of the trainer's loop: one cap per layer (greedy) or ``cfg.epochs``."""
        return self.cap * len(self.groups) if self.greedy else self.cap

    def stage(self, epoch: int) -> int | None:
        return epoch // self.cap if self.greedy else None

    def epoch_name(self, epoch: int, total: int) -> str:
        """Greedy: ``layer 2/2, epoch 1/3`` (each layer is a stage of ``--epochs``)."""
        if not self.greedy:
            return super().epoch_name(epoch, total)
        return (f"layer {self.stage(epoch) + 1}/{len(self.groups)}, epoch "
                f"{epoch % self.cap + 1}/{self.cap}")

    def skip_epoch(self, epoch: int) -> bool:
        """Greedy: the epoch belongs to a layer that stopped early."""
        return self.greedy and self.stop["done"][self.stage(epoch)]

    def caches_frozen(self) -> bool:
        """Greedy and real-valued: the dense ReLU layers below the learning one (MF's nets
        have no norms, :func:`pbitsim.network.arch_rules.arch_rule`) are frozen and deterministic."""
        return self.greedy and not self.tiled

    def _loss(self, x, y, stage, seed_key=(0,), rows=None):
        last = len(self.groups) - 1
        upto = last if stage is None else stage
        frozen = set(range(upto)) if stage is not None else set()
        below = None
        if stage and self.frozen is not None and rows is not None:  # layers 0..stage-1 frozen
            def run_below(xb):
                _, out = self.model.blocks(xb, seed_key, local=True, upto=stage - 1,
                                           output=True)
                return [out.flatten(1)]
            shape = self.net.blocks[stage - 1].out_shape
            below = self.frozen.read(("layer", stage), run_below, [math.prod(shape)], x, rows)
        if below is not None:
            ys, _ = self.model.blocks(below[0].view(-1, *shape), seed_key, local=True,
                                      upto=upto, start=stage)
        else:
            ys, _ = self.model.blocks(x, seed_key, local=True, frozen=frozen, upto=upto)
        layers = range(upto + 1) if stage is None else (stage,)
        loss, logits = 0.0, None
        for i in layers:
            logits = self._goodness(i, ys[i].flatten(1))
            loss = loss + cross_entropy(logits, y)
        return loss, logits, layers

    def _goodness(self, i, a):
        """Class goodness ``a M_i^T`` of layer ``i``'s activity ``a``.

        bsmf: ``a`` holds tile counts; the projection index-and-accumulates them (uint8); its
        input gradient ``g M_i^T`` (which the index product does not give) is added by a term
        that is zero in value, ``(a - a.detach()) M_i``, and counted as an input-gradient product.
        """
        if not self.tiled:
            return self.projs[i](a)
        proj = self.projs[i]
        out = proj(a.detach().round().to(torch.uint8))
        if not a.requires_grad:
            return out
        out = out + (a - a.detach()) @ proj.weight
        b, k, n = a.shape[0], a.shape[1], proj.weight.shape[1]

        def count(g):
            tally.record(active_counter(), costs.product("input_grad", b * k * n, b * k, b * n))
        out.register_hook(count)
        return out

    def extra_index_layers(self) -> list:
        """bsmf: the last projection reads the last layer's counts (the head's place in the
        statistics the estimator takes)."""
        return [self.projs[-1]] if self.tiled else []

    def layer_density(self) -> list[float]:
        return self.model.layer_density() if self.tiled else []

    def _mode(self, train: bool) -> None:
        self.model.train(train)
        self.projs.train(train)

    def train_step(self, x, y, seed_key, frac: float, rows=None):
        self._mode(True)
        stage = self.stage(seed_key[0])
        loss, logits, layers = self._loss(x, y, stage, seed_key, rows)
        for i in layers:
            self.optims[i].zero_grad(set_to_none=True)
        loss.backward()
        for i in layers:
            self.optims[i].step()
        count_adam([self.groups[i] for i in layers])
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    @torch.no_grad()
    def end_epoch(self, epoch: int, batches) -> dict:
        """Count the epoch for its layer(s); greedy: the validation loss and early stopping."""
        stage = self.stage(epoch)
        for i in (range(len(self.groups)) if stage is None else (stage,)):
            self.stop["epochs"][i] += 1
        if stage is None:
            return {}
        self._mode(False)
        with counting(OpCounter()):  # validation is not part of the training counts
            val = held_out_loss(lambda x, y, n: self._loss(
                x, y, stage, (VAL_KEY, epoch, n), self.held_out_rows(n, len(y)))[0], batches)
        record_held_out(self.stop, stage, val, self.patience)
        return {"layer": stage + 1, "val_loss": val}

    def layer_epochs(self) -> list[int] | None:
        """Epochs each layer trained (greedy), None online."""
        return list(self.stop["epochs"]) if self.greedy else None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "projs": self.projs.state_dict(),
                "stop": {k: list(v) for k, v in self.stop.items()}}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.projs.load_state_dict(state["projs"])
        self.stop = {k: list(v) for k, v in state["stop"].items()}

    @torch.no_grad()
    def predict(self, x, seed_key):
        self._mode(False)
        ys, _ = self.model.blocks(x, seed_key, local=True)
        logits = self._goodness(len(ys) - 1, ys[-1].flatten(1))
        tally.record(active_counter(), costs.argmax(x.shape[0], self.classes))
        return {"last": logits.argmax(1)}
