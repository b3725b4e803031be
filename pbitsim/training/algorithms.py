"""The learning algorithms. They share the trainer loop and differ in their losses and updates.

Every algorithm trains the network of an architecture (:class:`~pbitsim.training.models.Net`
built from a built-in name or a user TOML file, as ``pbitsim estimate --arch`` reads them) where
its rule applies (:func:`pbitsim.arch_rules.arch_rule`):

* ``cwc``: CwC-FF, real-valued: every block minimises cross-entropy over its class goodnesses
  (channel or unit groups, mean squared block output); inputs detached (no backprop between
  blocks). Every block's channels (units) must split into one group per class.
* ``bsff``: the same network and losses through the simulator: tiled logistic units (M tiles)
  sampled by p-bits, index-and-accumulate layers after the first; mean-field gradient
  estimator; every block's pre-activations batch-normalised onto the tiles (see ``models``);
  optionally the test predictions summed over ``eval_samples`` sampled passes.
* ``bgbsff``: BSFF whose local errors are quantized (``sign`` or ``ternary``) before the update.
* ``ff``: Hinton's forward-forward on an all-dense net (label in the first input values,
  positive/negative passes, RMS-normalised input, prediction by the label with the largest
  goodness summed over every layer but the first); the per-layer loss is the symmetric
  balanced one (see ``FF``).
* ``bp``: backpropagation end to end through the network with its softmax head.
* ``mf``: Mono-Forward on an MLP: per layer a projection onto the classes, local
  cross-entropy, no head; ``greedy`` (one layer at a time, early stopping on a held-out split)
  or ``online`` schedule (see ``MF``).
* ``bsmf``: ``mf`` on BSFF's tiled p-bit net (index-and-accumulate layers and projections).

CwC-family blocks follow a freezing schedule (:mod:`pbitsim.schedules`); the head trains
throughout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .. import costs
from ..arch_rules import resolve_arch
from ..bridge import tally
from ..bridge.modules import set_backend
from ..counters import active_counter
from ..counters import OpCounter, counting
from ..schedules import MF_MIN_DELTA, MF_PATIENCE, default_schedule, freeze_ends
from ..bridge.counted import CountedLinear
from ..bridge.modules import BSNLinear
from .models import Net, class_goodness, rms_normalize

__all__ = ["ALGOS", "DEFAULT_LR", "make_algorithm", "freeze_ends"]

ALGOS = ("bsff", "bgbsff", "cwc", "ff", "bp", "mf", "bsmf")
# mf: the seeds' MNIST rate (F-MNIST 3.873e-4, CIFAR-10 3.242e-4)
DEFAULT_LR = {"bsff": 0.01, "bgbsff": 0.01, "cwc": 0.01, "ff": 0.003, "bp": 0.001,
              "mf": 1.570e-3, "bsmf": 0.01}
HEAD_LR = 1e-4  # Adam for the softmax head (the reference uses SGD 0.01 over 50 epochs)
VAL_KEY = 2**31 - 2  # seed key of greedy MF's validation passes (p-bit draws)
FF_ALPHA = 20.0  # FF: gain on the positive-minus-negative goodness gap (mean squares)


def _adam(params, lr):
    return torch.optim.Adam(params, lr=lr)


def _count_adam(groups) -> None:
    tally.count_adam(active_counter(), sum(p.numel() for g in groups for p in g))


def shift_lr(lr: float) -> float:
    """The power of two nearest ``lr``: the step of a shift-and-add update."""
    return 2.0 ** round(math.log2(lr))


def _shift_sgd(params, lr):
    """BGBSFF's hardware update ``w -= 2^-k g``: plain SGD at a power-of-two rate, no state."""
    return torch.optim.SGD(params, lr=shift_lr(lr))


def _ce(logits, y):
    tally.count_softmax_ce(active_counter(), logits.shape[0], logits.shape[1], train=True)
    return F.cross_entropy(logits, y)


class Algorithm:
    """Base: a model, its optimizers, one training step, prediction, and state for checkpoints."""

    name = ""
    predictors: tuple[str, ...] = ()

    def __init__(self, cfg, input_shape, classes):
        self.cfg, self.input_shape, self.classes = cfg, tuple(input_shape), classes
        self.lr = cfg.lr if cfg.lr is not None else DEFAULT_LR[self.name]
        self.schedule = cfg.schedule or default_schedule(self.name)
        self.net = resolve_arch(self.name, cfg.arch, input_shape, classes, cfg.dataset,
                                self.schedule)
        self.arch = self.net.name

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(),
                "optims": [o.state_dict() for o in self.optims]}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        for o, s in zip(self.optims, state["optims"]):
            o.load_state_dict(s)

    def layer_density(self) -> list[float]:
        return []


class CwCFamily(Algorithm):
    """CwC-FF, BSFF and BGBSFF: per-block CwC losses, per-block Adam, staggered freezing."""

    predictors = ("sf", "avg")

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        tiles = None if self.name == "cwc" else cfg.tiles
        quant = cfg.grad_quant if self.name == "bgbsff" else None
        self.model = Net(self.net, tiles=tiles, estimator=cfg.estimator, grad_quant=quant,
                         seed=cfg.seed, device=cfg.device)
        set_backend(self.model, cfg.backend)
        self.groups = self.model.layer_groups()
        self.shift = self.name == "bgbsff" and cfg.update == "shift"
        block_opt = _shift_sgd if self.shift else _adam
        self.optims = [block_opt(g, self.lr) for g in self.groups[:-1]] + [_adam(self.groups[-1],
                                                                                 HEAD_LR)]
        self.ends = freeze_ends(cfg.dataset, self.schedule, len(self.net.blocks), cfg.epochs)

    def train_step(self, x, y, seed_key, frac: float):
        frozen = {i for i, end in enumerate(self.ends) if frac >= end}
        self.model.train()
        ys, logits = self.model(x, seed_key, local=True, frozen=frozen)
        loss = _ce(logits, y)
        for i, yi in enumerate(ys):
            if i not in frozen:
                loss = loss + _ce(class_goodness(yi, self.classes), y)
        for o in self.optims:
            o.zero_grad(set_to_none=True)
        loss.backward()
        live = [i for i in range(len(self.optims)) if i not in frozen]
        for i in live:
            self.optims[i].step()
        head = len(self.optims) - 1
        if self.shift:
            tally.record(active_counter(), costs.shift_update(
                sum(p.numel() for i in live if i != head for p in self.groups[i])))
            _count_adam([self.groups[head]])
        else:
            _count_adam([self.groups[i] for i in live])
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    @torch.no_grad()
    def predict(self, x, seed_key):
        """Head and goodness predictions; BSFF sums them over ``cfg.eval_samples`` sampled passes."""
        self.model.eval()
        passes = self.cfg.eval_samples if self.model.simulated else 1
        logits = goodness = 0.0
        for k in range(passes):
            ys, out = self.model(x, seed_key if passes == 1 else (*seed_key, k))
            logits = logits + out
            goodness = goodness + class_goodness(ys[-1], self.classes)
        counter = active_counter()
        tally.record(counter, costs.sum_predictions((passes - 1) * 2 * out.numel()))
        tally.record(counter, costs.argmax(2 * x.shape[0], self.classes))
        return {"sf": logits.argmax(1), "avg": goodness.argmax(1)}

    def layer_density(self) -> list[float]:
        return self.model.layer_density() if self.model.simulated else []


class BP(Algorithm):
    """Backpropagation through the whole network and its softmax head."""

    name = "bp"
    predictors = ("sf",)

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        self.model = Net(self.net, saved="stash")
        self.params = [list(self.model.parameters())]
        self.optims = [_adam(self.params[0], self.lr)]

    def _logits(self, x):
        return self.model(x, local=False)[1]

    def train_step(self, x, y, seed_key, frac: float):
        self.model.train()
        logits = self._logits(x)
        loss = _ce(logits, y)
        self.optims[0].zero_grad(set_to_none=True)
        loss.backward()
        self.optims[0].step()
        _count_adam(self.params)
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    @torch.no_grad()
    def predict(self, x, seed_key):
        self.model.eval()
        logits = self._logits(x)
        tally.record(active_counter(), costs.argmax(x.shape[0], self.classes))
        return {"sf": logits.argmax(1)}


class FF(Algorithm):
    """Hinton's forward-forward; goodness = mean squared activity of a layer.

    Loss per layer: ``softplus(-FF_ALPHA * (goodness(pos) - goodness(neg)))`` for each image and
    its negative (a wrong label), the symmetric balanced loss of SymBa (Lee & Song, 2023), in place
    of Hinton's ``softplus(theta - g_pos) + softplus(g_neg - theta)``. The threshold loss has a
    common-mode term (below the threshold it mostly raises every activity): a deeper layer first
    aligns with the label-independent part of its input, which the true label's extra activity
    below shrinks after normalisation, so layers 2-4 rank the true label last early in training
    (1% test accuracy on 1,000 MNIST images x 1 epoch, 25% on 3,000 x 2, where this loss gives
    49% and 78%); the pairwise gap has no such term.
    """

    name = "ff"
    predictors = ("goodness",)

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        # no softmax head (prediction by goodness); goodness of each layer's activity before
        # its normalisation; the input is RMS-normalised too (Hinton: every layer reads a
        # normalised vector)
        self.model = Net(self.net, head=False, goodness="activation")
        self.groups = self.model.layer_groups()
        self.optims = [_adam(g, self.lr) for g in self.groups]

    def _layers(self, x):
        """Every layer's activity for the (label-embedded) flat input ``x``."""
        return self.model(rms_normalize(x))[0]

    def _embed(self, x, labels):
        """Flattened images whose first ``classes`` values are a one-hot label at the image's max."""
        flat = x.flatten(1).clone()
        flat[:, :self.classes] = 0.0
        rows = torch.arange(flat.shape[0])
        flat[rows, labels] = x.flatten(1).amax(1)
        return flat

    @staticmethod
    def _goodness(h):
        tally.count_goodness(active_counter(), h.shape, h.shape[0])
        if h.requires_grad:
            shape = tuple(h.shape)
            h.register_hook(lambda g: tally.count_goodness_backward(active_counter(), shape))
        return h.pow(2).mean(1)

    def train_step(self, x, y, seed_key, frac: float):
        self.model.train()
        rng = np.random.default_rng([self.cfg.seed, *seed_key])
        wrong = torch.from_numpy(rng.integers(1, self.classes, size=y.shape[0]))
        y_neg = (y + wrong) % self.classes  # a uniformly drawn wrong label
        hs_pos = self._layers(self._embed(x, y))
        hs_neg = self._layers(self._embed(x, y_neg))
        loss = 0.0
        for hp, hn in zip(hs_pos, hs_neg):
            g_pos, g_neg = self._goodness(hp), self._goodness(hn)
            gap = g_pos - g_neg
            loss = loss + F.softplus(-FF_ALPHA * gap).mean()
            tally.record(active_counter(), costs.ff_pair_loss(gap.numel()))
        for o in self.optims:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in self.optims:
            o.step()
        _count_adam(self.groups)
        # training "accuracy": the last layer puts the positive pass above the negative one
        correct = int((g_pos > g_neg).sum())  # the last layer's, computed above
        return float(loss.detach()), correct

    @torch.no_grad()
    def predict(self, x, seed_key):
        self.model.eval()
        scores = torch.zeros(x.shape[0], self.classes)
        for c in range(self.classes):
            hs = self._layers(self._embed(x, torch.full((x.shape[0],), c, dtype=torch.long)))
            for h in hs[1:]:  # Hinton: every layer but the first
                scores[:, c] += self._goodness(h)
        counter = active_counter()
        tally.record(counter, costs.elementwise(x.shape[0] * self.classes * (len(hs) - 2),
                                                add=1, writes=0))
        tally.record(counter, costs.argmax(x.shape[0], self.classes))
        return {"goodness": scores.argmax(1)}


class MF(Algorithm):
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
    :meth:`state_dict`, so a run resumed mid-layer continues bit-identically.
    """

    name = "mf"
    predictors = ("last",)

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        self.tiled = self.name == "bsmf"
        if self.tiled:  # BSFF's tiled p-bit net; projections index-and-accumulate the counts
            self.model = Net(self.net, tiles=cfg.tiles, estimator=cfg.estimator, seed=cfg.seed,
                             device=cfg.device, head=False)
            self.projs = torch.nn.ModuleList(
                BSNLinear(b.linear.n_out, classes, tiles_in=cfg.tiles, bias=False,
                          seed=cfg.seed) for b in self.net.blocks)
            set_backend(self.model, cfg.backend)
            set_backend(self.projs, cfg.backend)
        else:
            self.model = Net(self.net, head=False)
            self.projs = torch.nn.ModuleList(
                CountedLinear(b.linear.n_out, classes, bias=False) for b in self.net.blocks)
        self.groups = [g + list(p.parameters())
                       for g, p in zip(self.model.layer_groups(), self.projs)]
        self.optims = [_adam(g, self.lr) for g in self.groups]
        self.greedy = self.schedule == "greedy"
        self.validation = self.greedy  # the trainer holds out a split for early stopping
        n = len(self.groups)
        self.cap = cfg.epochs
        self.patience = MF_PATIENCE.get(cfg.dataset, 5)
        self.stop = {"best": [math.inf] * n, "bad": [0] * n, "done": [False] * n,
                     "epochs": [0] * n}

    def total_epochs(self) -> int:
        """Epochs of the trainer's loop: one cap per layer (greedy) or ``cfg.epochs``."""
        return self.cap * len(self.groups) if self.greedy else self.cap

    def stage(self, epoch: int) -> int | None:
        return epoch // self.cap if self.greedy else None

    def skip_epoch(self, epoch: int) -> bool:
        """Greedy: the epoch belongs to a layer that stopped early."""
        return self.greedy and self.stop["done"][self.stage(epoch)]

    def _loss(self, x, y, stage, seed_key=(0,)):
        last = len(self.groups) - 1
        upto = last if stage is None else stage
        frozen = set(range(upto)) if stage is not None else set()
        ys, _ = self.model.blocks(x, seed_key, local=True, frozen=frozen, upto=upto)
        layers = range(upto + 1) if stage is None else (stage,)
        loss, logits = 0.0, None
        for i in layers:
            logits = self._goodness(i, ys[i].flatten(1))
            loss = loss + _ce(logits, y)
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

    def train_step(self, x, y, seed_key, frac: float):
        self._mode(True)
        stage = self.stage(seed_key[0])
        loss, logits, layers = self._loss(x, y, stage, seed_key)
        for i in layers:
            self.optims[i].zero_grad(set_to_none=True)
        loss.backward()
        for i in layers:
            self.optims[i].step()
        _count_adam([self.groups[i] for i in layers])
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
        total, n = 0.0, 0
        with counting(OpCounter()):  # validation is not part of the training counts
            for x, y in batches:
                loss, _, _ = self._loss(x, y, stage, (VAL_KEY, epoch, n))
                total += float(loss) * len(y)
                n += len(y)
        val = total / max(n, 1)
        st = self.stop
        if val < st["best"][stage] - MF_MIN_DELTA:
            st["best"][stage], st["bad"][stage] = val, 0
        else:
            st["bad"][stage] += 1
            if st["bad"][stage] >= self.patience:
                st["done"][stage] = True
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


class _BSMF(MF):
    name = "bsmf"


class _CwC(CwCFamily):
    name = "cwc"


class _BSFF(CwCFamily):
    name = "bsff"


class _BGBSFF(CwCFamily):
    name = "bgbsff"


_REGISTRY = {"cwc": _CwC, "bsff": _BSFF, "bgbsff": _BGBSFF, "ff": FF, "bp": BP, "mf": MF,
             "bsmf": _BSMF}


def make_algorithm(cfg, input_shape, classes) -> Algorithm:
    """The algorithm named ``cfg.algo`` for data of ``input_shape`` with ``classes`` classes."""
    if cfg.algo not in _REGISTRY:
        raise ValueError(f"unknown algorithm {cfg.algo!r}; choose one of {', '.join(ALGOS)}")
    return _REGISTRY[cfg.algo](cfg, input_shape, classes)
