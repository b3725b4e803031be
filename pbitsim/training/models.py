"""Networks: the CwC-FF ConvNet (real-valued or through the p-bit simulator) and Hinton's FF MLP.

CwC-FF ConvNet (Papachristodoulou et al. 2024, as used by the BSFF paper): 4 blocks of
conv 3x3 s1 p1 -> activation -> 2x2 max-pool (blocks 1 and 3) -> BatchNorm2d, channels
20/80/240/480, and a linear softmax head on the flattened last block.

* real (CwC-FF, BP): activation ReLU, everything in torch (counted).
* simulated (BSFF/BGBSFF): activation = tiled logistic with M tiles sampled by p-bits; block 1's
  conv reads the real image (torch, counted as MACs); blocks 2-4 and the head read the previous
  block's integer tile counts by index-and-accumulate, with that block's batch norm folded into
  their weights. The batch-norm output is still what the goodness is computed on.
  Every block's conv output is batch-normalised before its tiles (``pres``, scale initialised to
  ``PRE_SCALE``; folded into that conv's weights and bias at inference, so the hardware still
  indexes and adds). A tiled unit, unlike a ReLU, depends on the scale and centre of its input: it
  carries about one count of sampling noise, so its input must span the tiles' range 0..M.
  Without this normalisation block 1's 9-weight filters, moved by Adam at a fixed step per
  weight, stayed at a pre-activation std of 0.6-1.4 (noise limited every later block), and over
  full F-MNIST epochs the later blocks drifted negative: tile densities fell to 3.5-6.5% and
  accuracy stalled (60,000 x 2 epochs: 81.6% without, 86.2% with every block normalised).
"""

from __future__ import annotations

import torch
from torch import nn

from ..bridge.counted import (CountedConv2d, CountedLinear, counted_bn_backward, counted_max_pool,
                              counted_relu)
from ..bridge.modules import (BSNConv2d, BSNLinear, FoldableBatchNorm2d, QuantizeGrad,
                              TiledLogistic, max_pool_counts)
from ..counters import active_counter, uint_dtype
from .. import costs
from .. import kernels as K
from ..bridge import tally

__all__ = ["CWC_CHANNELS", "CWC_POOL", "CwCNet", "FFMLP", "MLP", "arch_name", "class_goodness",
           "rms_normalize"]

CWC_CHANNELS = (20, 80, 240, 480)
CWC_POOL = (True, False, True, False)  # 2x2 max-pool after blocks 1 and 3
BN_EPS = 1e-4  # the CwC-FF reference's batch-norm epsilon
PRE_SCALE = 3.0  # BSFF: initial std of every block's normalised pre-activations (spans the tiles)
FF_HIDDEN = (2000, 2000, 2000, 2000)


def arch_name(algo: str, input_shape, arch: str | None = None) -> str:
    """The architecture name shared with the energy estimator."""
    if algo == "ff" or arch == "mlp":
        return "ff-mlp-4x2000"
    return "cwc-cifar10" if tuple(input_shape) == (3, 32, 32) else "cwc-mnist"


def class_goodness(y: torch.Tensor, classes: int) -> torch.Tensor:
    """``[B, classes]``: mean squared activation of each class's channel group."""
    b, c = y.shape[0], y.shape[1]
    if c % classes:
        raise ValueError(f"{c} channels do not split into {classes} class groups")
    tally.count_goodness(active_counter(), y.shape, b * classes)
    if y.requires_grad:
        shape = tuple(y.shape)
        y.register_hook(lambda g: tally.count_goodness_backward(active_counter(), shape))
    return y.pow(2).reshape(b, classes, -1).mean(2)


class CwCNet(nn.Module):
    """The CwC-FF ConvNet. ``tiles=None``: real-valued (ReLU); else simulated with M tiles.

    ``forward(x, seed_key, local=True)`` returns ``(ys, logits)``: the batch-norm output of every
    block (goodness is taken on these) and the head's logits. With ``local=True`` each block's input
    and the head's input are detached (forward-forward); ``frozen`` block indices run without
    autograd. ``seed_key`` (a tuple of ints) makes every p-bit draw reproducible.
    """

    def __init__(self, input_shape, classes: int = 10, *, tiles: int | None = None,
                 estimator: str = "mean-field", grad_quant: str | None = None, seed: int = 0,
                 device: str | None = None, saved: str = "act"):
        super().__init__()
        self.saved = saved  # "stash" under backprop: what the backward pass keeps
        c_in, h, w = input_shape
        self.classes, self.tiles, self.seed = classes, tiles, int(seed)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        self.acts = nn.ModuleList()
        for i, c_out in enumerate(CWC_CHANNELS):
            if tiles is None or i == 0:
                self.convs.append(CountedConv2d(c_in, c_out, 3, 1, 1,
                                                grad_quant=grad_quant if tiles else None))
            else:
                self.convs.append(BSNConv2d(c_in, c_out, 3, 1, 1, tiles_in=tiles,
                                            grad_quant=grad_quant, seed=seed))
            if tiles is not None:
                self.acts.append(TiledLogistic(tiles, estimator, seed=seed,
                                               device=_block_device(device, i)))
            self.bns.append(FoldableBatchNorm2d(c_out, eps=BN_EPS))
            if tiles is not None:
                self.bns[-1].in_dtype = uint_dtype(tiles)  # it normalises tile counts
            self.convs[-1].saved = saved
            c_in = c_out
            if CWC_POOL[i]:
                h, w = h // 2, w // 2
        self.quant0 = QuantizeGrad(grad_quant, seed) if (tiles is not None and grad_quant) else None
        self.pres = None  # simulated: batch norm of each block's conv output, before its tiles
        if tiles is not None:
            self.pres = nn.ModuleList(FoldableBatchNorm2d(c, eps=BN_EPS) for c in CWC_CHANNELS)
            for pre in self.pres:
                nn.init.constant_(pre.weight, PRE_SCALE)
        self.features = c_in * h * w
        self.last_shape = (c_in, h, w)
        if tiles is None:
            self.head = CountedLinear(self.features, classes)
            self.head.saved = saved
        else:
            self.head = BSNLinear(self.features, classes, tiles_in=tiles)
        # activation density per BSN block: sum of counts and number of units seen (training)
        self.register_buffer("count_sum", torch.zeros(len(CWC_CHANNELS), dtype=torch.float64))
        self.register_buffer("unit_sum", torch.zeros(len(CWC_CHANNELS), dtype=torch.float64))

    @property
    def simulated(self) -> bool:
        return self.tiles is not None

    def layer_groups(self):
        """Parameter groups trained by separate optimizers: the 4 blocks, then the head."""
        groups = [list(self.convs[i].parameters()) + list(self.bns[i].parameters())
                  for i in range(len(self.convs))]
        if self.pres is not None:
            for group, pre in zip(groups, self.pres):
                group += list(pre.parameters())
        return groups + [list(self.head.parameters())]

    def forward(self, x, seed_key=(0,), *, local: bool = True, frozen=()):
        ys, head_in = self.blocks(x, seed_key, local=local, frozen=frozen)
        return ys, self.head(*head_in)

    def blocks(self, x, seed_key=(0,), *, local: bool = True, frozen=()):
        """The four blocks: ``(ys, head_in)``, ``self.head(*head_in)`` being the logits.

        ``head_in`` is ``(features,)`` for the real net and ``(counts [B, F] uint8, scale [F],
        shift [F])`` for the simulated one (the last block's tile counts and its batch norm).
        """
        ys = []
        inp = x
        scale = shift = None
        for i in range(len(self.convs)):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i not in frozen):
                if self.simulated:
                    y, inp, scale, shift = self._sim_block(i, inp, scale, shift, seed_key)
                else:
                    y = self._real_block(i, inp)
                    inp = y.detach() if local else y
            ys.append(y)
        if not self.simulated:
            return ys, (inp.flatten(1),)
        spatial = inp.shape[2] * inp.shape[3]
        return ys, (inp.reshape(inp.shape[0], -1), scale.repeat_interleave(spatial),
                    shift.repeat_interleave(spatial))

    def _real_block(self, i, x):
        z = counted_relu(self.convs[i](x), self.saved)
        if CWC_POOL[i]:
            z = counted_max_pool(z, 2, self.saved)
        y, _, _ = self.bns[i](z)
        return counted_bn_backward(y, self.saved)

    def _sim_block(self, i, x, scale, shift, seed_key):
        if i == 0:
            z = self.convs[0](x)
            if self.quant0 is not None:
                z = self.quant0(z, K.derive_seed(self.seed, 100, *seed_key))
        else:
            z = self.convs[i](x, scale, shift, seed=K.derive_seed(self.seed, 200 + i, *seed_key))
        z = counted_bn_backward(self.pres[i](z)[0])
        s, s_u8 = self.acts[i](z, seed=K.derive_seed(self.seed, i, *seed_key))
        if self.training:
            with torch.no_grad():
                self.count_sum[i] += float(s.sum())
                self.unit_sum[i] += s.numel()
        if CWC_POOL[i]:
            s, s_u8 = max_pool_counts(s, self.tiles)
        y, scale, shift = self.bns[i](s)
        return counted_bn_backward(y, dtype=self.bns[i].in_dtype), s_u8, scale, shift

    def layer_density(self) -> list[float]:
        """Mean fraction of p-bit samples that are 1, per BSN block (count / (units * M))."""
        units = self.unit_sum.clamp_min(1.0)
        return [float(v) for v in self.count_sum / (units * self.tiles)]


def _block_device(spec: str | None, block: int):
    """The p-bit device of one block: sMTJ blocks are separate arrays with their own variation."""
    device = K.parse_device(spec)
    return device.for_layer(block) if isinstance(device, K.Smtj) else device


class MLP(nn.Module):
    """A ReLU MLP (the 4x2000 FF architecture) with a softmax head, for BP."""

    def __init__(self, in_features: int, classes: int = 10, hidden=FF_HIDDEN):
        super().__init__()
        dims = (in_features, *hidden)
        self.layers = nn.ModuleList(CountedLinear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = CountedLinear(dims[-1], classes)
        for layer in (*self.layers, self.head):
            layer.saved = "stash"

    def forward(self, x):
        h = x.flatten(1)
        for layer in self.layers:
            h = counted_relu(layer(h), "stash")
        return self.head(h)


def rms_normalize(h: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rows scaled to a mean square of 1 per component (Hinton's ``ffnormrows``).

    Not unit length: a unit-length row of 2,000 components has entries ~0.02, which keeps every
    goodness near zero whatever the weights (the cause of FF predicting below chance).
    """
    tally.record(active_counter(), costs.rms_norm(h.numel(), h.shape[0]))
    return h / (h.pow(2).mean(1, keepdim=True).sqrt() + eps)


class FFMLP(nn.Module):
    """Hinton's forward-forward MLP: each layer sees the RMS-normalised previous activity."""

    def __init__(self, in_features: int, hidden=FF_HIDDEN):
        super().__init__()
        dims = (in_features, *hidden)
        self.layers = nn.ModuleList(CountedLinear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x, frozen=()):
        """Per-layer activities; each layer's input is detached (local learning)."""
        hs = []
        h = x
        for i, layer in enumerate(self.layers):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i not in frozen):
                h = counted_relu(layer(rms_normalize(h.detach())))
            hs.append(h)
        return hs
