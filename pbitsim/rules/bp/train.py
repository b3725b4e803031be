"""BP's training step."""

from __future__ import annotations

import torch

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.network.counters import active_counter
from pbitsim.training.algorithms import Algorithm, register
from pbitsim.training.helpers import adam, count_adam, cross_entropy
from pbitsim.training.models import Net


@register
class BP(Algorithm):
    """Backpropagation through the whole network and its softmax head."""

    predictors = ("sf",)

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        self.model = Net(self.net, saved="stash")
        self.params = [list(self.model.parameters())]
        self.optims = [adam(self.params[0], self.lr)]

    def _logits(self, x):
        return self.model(x, local=False)[1]

    def train_step(self, x, y, seed_key, frac: float):
        self.model.train()
        logits = self._logits(x)
        loss = cross_entropy(logits, y)
        self.optims[0].zero_grad(set_to_none=True)
        loss.backward()
        self.optims[0].step()
        count_adam(self.params)
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    @torch.no_grad()
    def predict(self, x, seed_key):
        self.model.eval()
        logits = self._logits(x)
        tally.record(active_counter(), costs.argmax(x.shape[0], self.classes))
        return {"sf": logits.argmax(1)}
