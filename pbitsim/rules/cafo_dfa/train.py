"""CaFo DFA-CE's training step: direct-feedback-alignment block epochs, then Rand-CE's stages."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pbitsim.network import costs
from pbitsim.bridge import tally
from pbitsim.network.counters import active_counter
from pbitsim.rules.cafo_rand.train import CafoRand
from pbitsim.training.algorithms import register
from pbitsim.training.helpers import adam, count_adam, cross_entropy

#: Offset of the feedback matrices' generator seed from the run's seed (they are drawn apart
#: from torch's global generator, so the network's initial weights are Rand-CE's).
FEEDBACK_SEED = 7121


def feedback_matrices(flat: list[int], classes: int, seed: int) -> list[torch.Tensor]:
    """DFA's fixed feedback ``B_i`` (``classes x flat_i``) for every block but the last:
    standard Gaussian entries, each row scaled to unit L2 norm."""
    gen = torch.Generator().manual_seed(int(seed) + FEEDBACK_SEED)
    out = []
    for n in flat[:-1]:
        b = torch.randn(classes, n, generator=gen)
        out.append(b / b.norm(dim=1, keepdim=True))
    return out


@register
class CafoDFA(CafoRand):
    """CaFo DFA-CE: the blocks learn first, by direct feedback alignment, then the predictors.

    Block epochs (``cfg.dfa_epochs``, by default the seeds' per data set): an auxiliary head
    ``Linear(flat_L, C)`` reads the last block; its error ``e = (softmax - onehot) / B`` (the
    gradient of the batch-mean cross-entropy at the logits) reaches block ``i < L`` as the output
    gradient ``e B_i`` through a fixed random matrix (:func:`feedback_matrices`), and the last
    block as its true gradient ``e W_aux^T``. Each block's input is detached: no gradient crosses
    blocks, and no backward pass runs between them. Blocks and the auxiliary head learn with
    their own Adam at the block rate, batch norms on batch statistics. Then the blocks freeze
    (batch norms on the running statistics they reached) and the predictors learn as in
    Rand-CE. Tiled (``bscafo-dfa``, ``--tiles M``): the blocks' gradients go through the tiles
    by the mean field; the auxiliary head index-and-accumulates the counts and its input
    gradient ``e W^T`` is an fp32 product.
    """

    #: The seeds' predictor and block Adam rates per data set (``configs/cafo/cafodfa_*``;
    #: CIFAR-10, not read here, takes MNIST's).
    LRS = {"mnist": 2.5391813833013565e-4, "fashion-mnist": 3.304463634024569e-4}
    BLOCK_LRS = {"mnist": 4.977965859721583e-4, "fashion-mnist": 1.384690524742107e-4}

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        self.block_lr = self.BLOCK_LRS.get(cfg.dataset, self.BLOCK_LRS["mnist"])
        self.aux = self._reader(self.flat[-1], classes, cfg)
        if self.tiled:
            from pbitsim.bridge.modules import set_backend
            set_backend(self.aux, cfg.backend)
        self.feedback = feedback_matrices(self.flat, classes, cfg.seed)
        self.block_groups = self.model.layer_groups() + [list(self.aux.parameters())]
        self.block_optims = [adam(g, self.block_lr) for g in self.block_groups]

    def dfa_step(self, x, y, seed_key):
        self.model.train(True)
        self.aux.train(True)
        ys, counts = self._blocks(x, seed_key)
        last = len(ys) - 1
        logits = self._aux_logits(ys, counts)
        loss = cross_entropy(logits, y)
        b = x.shape[0]
        with torch.no_grad():
            e = (F.softmax(logits, 1) - F.one_hot(y, self.classes).to(logits.dtype)) / b
        drive = loss
        for i in range(last):  # e B_i: the output gradient of block i, a fixed projection
            n = self.flat[i]
            tally.record(active_counter(), costs.product("input_grad", b * self.classes * n,
                                                         b * n, b * self.classes))
            drive = drive + (ys[i].flatten(1) * (e @ self.feedback[i])).sum()
        for o in self.block_optims:
            o.zero_grad(set_to_none=True)
        drive.backward()
        for o in self.block_optims:
            o.step()
        count_adam(self.block_groups)
        return float(loss.detach()), int((logits.argmax(1) == y).sum())

    def _aux_logits(self, ys, counts):
        """The auxiliary head on the last block, its input gradient reaching the block.

        Tiled: the head index-and-accumulates the counts (batch norm folded), which gives no
        input gradient; ``e W^T`` reaches the block output ``a`` through a term that is zero
        in value, ``(a - a.detach()) W``, counted as an input-gradient product.
        """
        last = len(ys) - 1
        out = self._read(self.aux, last, ys, counts)
        if not self.tiled:
            return out
        a = ys[last].flatten(1)
        out = out + (a - a.detach()) @ self.aux.weight
        b, k, n = a.shape[0], a.shape[1], self.aux.weight.shape[1]

        def count(g):
            tally.record(active_counter(), costs.product("input_grad", b * k * n, b * k, b * n))
        out.register_hook(count)
        return out

    def state_dict(self) -> dict:
        return {**super().state_dict(), "aux": self.aux.state_dict(),
                "block_optims": [o.state_dict() for o in self.block_optims]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.aux.load_state_dict(state["aux"])
        for o, s in zip(self.block_optims, state["block_optims"]):
            o.load_state_dict(s)
