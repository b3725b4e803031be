"""Scalable FF's training step: real-valued (``sff``) or on tiled p-bit units (``bssff``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pbitsim.network import costs
from pbitsim import kernels as K
from pbitsim.bridge import tally
from pbitsim.bridge.counted import CountedConv2d
from pbitsim.bridge.modules import BSNConv2d, set_backend
from pbitsim.network.counters import active_counter
from pbitsim.seeds import stream
from pbitsim.training.algorithms import Algorithm, register
from pbitsim.training.helpers import cross_entropy
from pbitsim.training.optim import AdamW
from pbitsim.training.models import Net, class_goodness

#: AdamW's decoupled weight decay (torch's default; the SFF paper trains with AdamW).
SFF_WEIGHT_DECAY = 0.01


@register
class SFF(Algorithm):
    """Scalable Forward-Forward: every block learns from its own goodness conv.

    The architecture's network without a head (``Net``; conv -> batch norm -> ReLU -> its pool
    and layer norm, input detached) and one goodness conv per block (``Arch.goodness_conv``:
    block output -> classes channels). Class goodness ``g_c`` = spatial mean of the square of
    goodness channel ``c`` (:func:`~pbitsim.training.models.class_goodness` with one channel per
    class); each block's loss is the softmax cross-entropy of its goodnesses; every block
    learns on every minibatch with its own AdamW. Predictions: ``avg`` the argmax of the
    blocks' summed (averaged) goodnesses, ``last`` the last block's.

    ``bssff`` (``sff --tiles M``): the tiled p-bit net of BSFF; every goodness conv
    index-and-accumulates its block's tile counts (:class:`BSNConv2d`, the block's layer norm as
    a per-sample factor), its input gradient ``W^T g`` reaching the block output through a term
    of value zero, counted as an input-gradient product.
    """

    predictors = ("avg", "last")

    def __init__(self, cfg, input_shape, classes):
        super().__init__(cfg, input_shape, classes)
        convs = [self.net.goodness_conv(b) for b in self.net.blocks]
        if self.tiled:
            self.model = Net(self.net, tiles=self.tiles, estimator=cfg.estimator, seed=cfg.seed,
                             device=self.units.device, head=False)
            self.gconvs = torch.nn.ModuleList(
                BSNConv2d(g.in_shape[0], classes, g.kernel, 1, g.padding, tiles_in=self.tiles,
                          seed=cfg.seed) for g in convs)
            set_backend(self.model, cfg.backend)
            set_backend(self.gconvs, cfg.backend)
        else:
            self.model = Net(self.net, head=False)
            self.gconvs = torch.nn.ModuleList(
                CountedConv2d(g.in_shape[0], classes, g.kernel, 1, g.padding) for g in convs)
        self.groups = [g + list(c.parameters())
                       for g, c in zip(self.model.layer_groups(), self.gconvs)]
        self.optims = [AdamW(g, lr=self.lr, weight_decay=SFF_WEIGHT_DECAY)
                       for g in self.groups]
        self.n_params = sum(p.numel() for g in self.groups for p in g)

    def _mode(self, train: bool) -> None:
        self.model.train(train)
        self.gconvs.train(train)

    def _goodnesses(self, x, seed_key) -> list:
        """Every block's class goodnesses ``[B, classes]``."""
        counts = [] if self.tiled else None
        ys, _ = self.model.blocks(x, seed_key, local=True, counts_out=counts)
        return [class_goodness(self._conv(i, y, counts, seed_key), self.classes)
                for i, y in enumerate(ys)]

    def _conv(self, i, y, counts, seed_key):
        """Goodness conv ``i`` on block ``i``'s output ``y`` (tiled: on its tile counts)."""
        conv = self.gconvs[i]
        if not self.tiled:
            return conv(y)
        s_u8, (scale, shift, rows) = counts[i]
        seed = K.derive_seed(self.model.seed, stream("goodness_grad", i), *seed_key)
        out = conv(s_u8, scale, shift, seed=seed, row_scale=rows)
        if not y.requires_grad:
            return out
        # the conv's value is out's; its gradient into the block output y is W^T g
        out = out + F.conv2d(y - y.detach(), conv.weight.detach(), padding=conv.padding)
        x_shape, w_shape, o_shape = tuple(y.shape), tuple(conv.weight.shape), tuple(out.shape)
        out.register_hook(lambda g: tally.count_conv(active_counter(), x_shape, w_shape, o_shape,
                                                     1, 1, conv.padding, kind="input_grad"))
        return out

    def train_step(self, x, y, seed_key, frac: float):
        self._mode(True)
        goods = self._goodnesses(x, seed_key)
        loss = 0.0
        for g in goods:
            loss = loss + cross_entropy(g, y)
        for o in self.optims:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in self.optims:
            o.step()
        tally.record(active_counter(), costs.adamw(self.n_params))
        return float(loss.detach()), int((goods[-1].argmax(1) == y).sum())

    @torch.no_grad()
    def predict(self, x, seed_key):
        self._mode(False)
        goods = self._goodnesses(x, seed_key)
        total = goods[0]
        for g in goods[1:]:
            total = total + g
        counter = active_counter()
        tally.record(counter, costs.sum_predictions((len(goods) - 1) * goods[0].numel()))
        tally.record(counter, costs.argmax(2 * x.shape[0], self.classes))
        return {"avg": total.argmax(1), "last": goods[-1].argmax(1)}

    def extra_index_layers(self) -> list:
        """bssff: the last goodness conv reads the last block's counts (the head's place in
        the statistics the estimator takes)."""
        return [self.gconvs[-1]] if self.tiled else []

    def layer_density(self) -> list[float]:
        return self.model.layer_density() if self.tiled else []

    def state_dict(self) -> dict:
        return {**super().state_dict(), "gconvs": self.gconvs.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.gconvs.load_state_dict(state["gconvs"])
