"""Hinton's FF: the training step."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.network.counters import active_counter
from pbitsim.training.algorithms import FF_ALPHA, Algorithm, register
from pbitsim.training.helpers import adam, count_adam
from pbitsim.training.models import Net, rms_normalize


@register
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

    predictors = ("goodness",)
    # its passes read label-embedded inputs (no unlabelled pass to recompute the statistics
    # on); the built-in FF nets have layer norms only
    refreshes_norms = False

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        # no softmax head (prediction by goodness); goodness of each layer's activity before
        # its normalisation; the input is RMS-normalised too (Hinton: every layer reads a
        # normalised vector)
        self.model = Net(self.net, head=False, goodness="activation")
        self.groups = self.model.layer_groups()
        self.optims = [adam(g, self.lr) for g in self.groups]

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
        count_adam(self.groups)
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
