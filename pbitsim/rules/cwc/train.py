"""CwC-FF's training step (BSFF on tiled p-bit units), and the CwC family's shared base
:class:`CwCFamily` (BGBSFF's too)."""

from __future__ import annotations

import torch

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.bridge.modules import set_backend
from pbitsim.network.counters import active_counter
from pbitsim.schedules import freeze_ends
from pbitsim.training.algorithms import HEAD_LR, Algorithm, register
from pbitsim.training.helpers import adam, count_adam, cross_entropy, shift_sgd
from pbitsim.training.models import Net, class_goodness


class CwCFamily(Algorithm):
    """CwC-FF, BSFF and BGBSFF: per-block CwC losses, per-block Adam, staggered freezing."""

    predictors = ("sf", "avg")
    #: BGBSFF: the local errors quantized (``--grad-quant``) before the weight gradients, and
    #: the update ``--update`` (Adam or shift-and-add).
    quantized = False

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        quant = cfg.grad_quant if self.quantized else None
        self.model = Net(self.net, tiles=self.tiles, estimator=cfg.estimator, grad_quant=quant,
                         seed=cfg.seed, device=self.units.device)
        set_backend(self.model, cfg.backend)
        self.groups = self.model.layer_groups()
        self.shift = self.quantized and cfg.update == "shift"
        block_opt = shift_sgd if self.shift else adam
        self.optims = [block_opt(g, self.lr) for g in self.groups[:-1]] + [adam(self.groups[-1],
                                                                                 HEAD_LR)]
        self.ends = freeze_ends(cfg.dataset, self.schedule, len(self.net.blocks), cfg.epochs)

    def train_step(self, x, y, seed_key, frac: float):
        frozen = {i for i, end in enumerate(self.ends) if frac >= end}
        self.model.train()
        ys, logits = self.model(x, seed_key, local=True, frozen=frozen)
        loss = cross_entropy(logits, y)
        for i, yi in enumerate(ys):
            if i not in frozen:
                loss = loss + cross_entropy(class_goodness(yi, self.classes), y)
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
            count_adam([self.groups[head]])
        else:
            count_adam([self.groups[i] for i in live])
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




@register
class CwC(CwCFamily):
    """CwC-FF: real-valued (``cwc``) or on tiled p-bit units (``bsff``)."""
