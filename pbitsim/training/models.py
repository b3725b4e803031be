"""The trained network, built from an architecture (:class:`~pbitsim.network.archs.Arch`).

One torch network for every algorithm and every architecture the estimator reads (built-in
names or user TOML files). Each block is a linear layer (dense, or conv2d with stride, padding
and groups), an activation and the block's post layers (max-pool of any size, batch norm: 2d
after a conv, 1d after a dense layer, layer norm: Hinton's RMS normalisation
:func:`rms_normalize`); a linear softmax head reads the flattened last block output.

* real (CwC-FF, FF, BP, MF, SFF): activation ReLU, everything in torch (counted); where the
  architecture sets ``pre_norm`` (SFF's conv -> batch norm -> ReLU blocks) a batch norm
  (``pres``, default init) sits between each linear layer and its ReLU.
* simulated (BSFF/BGBSFF, ``tiles=M``): every block's linear output is batch-normalised
  (``pres``, scale initialised to ``PRE_SCALE``; folded into that layer's weights and bias at
  inference, so the hardware still indexes and adds) and feeds M tiled logistic units sampled
  by p-bits. The first block's linear layer multiplies the real input (torch, counted as MACs);
  later blocks and the head index-and-accumulate the previous block's integer tile counts
  (max-pooled on the counts), with its batch norm folded into their weights (scale) and bias
  (shift), and its layer norm applied as a per-sample factor on their outputs, so the counts
  stay integers. The block output (after batch / layer norm) is still what the goodness is
  computed on.

Why the pre-activation batch norm: a tiled unit, unlike a ReLU, depends on the scale and centre
of its input: it carries about one count of sampling noise, so its input must span the tiles'
range 0..M. Without it block 1's 9-weight filters, moved by Adam at a fixed step per weight,
stayed at a pre-activation std of 0.6-1.4 (noise limited every later block), and over full
F-MNIST epochs the later blocks drifted negative: tile densities fell to 3.5-6.5% and accuracy
stalled (60,000 x 2 epochs: 81.6% without, 86.2% with every block normalised).

Modules are created block by block (linear layer, activation, pre-activation and post batch
norms), then the head, so a seeded net draws its initial weights in layer order: the same
draws as the earlier hard-coded ConvNet and MLPs on the same architectures.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels as K
from ..bridge import tally
from ..bridge.counted import (CountedConv2d, CountedLinear, counted_bn_backward, counted_max_pool,
                              counted_relu)
from ..bridge.estimators import estimator as as_estimator, quantizer as as_quantizer
from ..bridge.modules import (BSNConv2d, BSNLinear, FoldableBatchNorm1d, FoldableBatchNorm2d,
                              QuantizeGrad, TiledLogistic, max_pool_counts, normalized_tiles)
from ..network.arch_rules import simulated_rule
from ..network.archs import BatchNorm, Dense, Pool
from ..seeds import stream
from ..network import costs
from ..network.counters import active_counter, uint_dtype

__all__ = ["Net", "BN_EPS", "PRE_SCALE", "class_goodness", "rms_normalize"]

BN_EPS = 1e-4  # the CwC-FF reference's batch-norm epsilon
PRE_SCALE = 3.0  # BSFF: initial std of every block's normalised pre-activations (spans the tiles)
RMS_EPS = 1e-8


def class_goodness(y: torch.Tensor, classes: int) -> torch.Tensor:
    """``[B, classes]``: mean squared activation of each class's channel (or unit) group."""
    b, c = y.shape[0], y.shape[1]
    if c % classes:
        raise ValueError(f"{c} channels do not split into {classes} class groups")
    tally.count_goodness(active_counter(), y.shape, b * classes)
    if y.requires_grad:
        shape = tuple(y.shape)
        y.register_hook(lambda g: tally.count_goodness_backward(active_counter(), shape))
    return y.pow(2).reshape(b, classes, -1).mean(2)


def _rms(h: torch.Tensor, eps: float) -> torch.Tensor:
    dims = tuple(range(1, h.dim()))
    return h.pow(2).mean(dims, keepdim=True).sqrt() + eps


def rms_normalize(h: torch.Tensor, eps: float = RMS_EPS) -> torch.Tensor:
    """Each sample scaled to a mean square of 1 per component (Hinton's ``ffnormrows``).

    Not unit length: a unit-length row of 2,000 components has entries ~0.02, which keeps every
    goodness near zero whatever the weights (the cause of FF predicting below chance). A
    ``[B, C, H, W]`` sample is normalised over all its ``C * H * W`` values.
    """
    tally.record(active_counter(), costs.rms_norm(h.numel(), h.shape[0]))
    if h.requires_grad:
        n, rows = h.numel(), h.shape[0]
        out = h / _rms(h, eps)
        out.register_hook(lambda g: tally.record(active_counter(),
                                                 costs.rms_norm_backward(n, rows)))
        return out
    return h / _rms(h, eps)


class Net(nn.Module):
    """The network of ``arch``: real-valued (``tiles=None``, ReLU) or simulated with M tiles.

    Parameters
    ----------
    arch : Arch
        The architecture (blocks and head), e.g. ``load_arch("cfse-mnist")``.
    tiles : int or None
        M tiles per unit (BSFF/BGBSFF), or None for the real-valued ReLU net.
    estimator : str or estimator object
        Backward of the tiled units (simulated nets; :mod:`pbitsim.bridge.estimators`).
    grad_quant : str, quantizer object or None
        BGBSFF: quantize the local errors (``'ternary'`` or ``'sign'``).
    seed : int
        Base seed of the p-bit draws.
    device : Device or str or None
        p-bit device (parsed, or its spec); sMTJ blocks are separate arrays with their own
        variation.
    head : bool
        Build the softmax head (FF predicts by goodness and has none).
    saved : str
        Where the tensors kept for the backward pass live: ``'act'`` (local to a layer) or
        ``'stash'`` (backprop keeps them across the network until its backward pass).
    goodness : str
        What each block reports: ``'block'`` its output (after pool and norms: CwC-FF), or
        ``'activation'`` its activity before the first normalisation (Hinton's FF).

    ``forward(x, seed_key, local=True, frozen=())`` returns ``(ys, logits)``: every block's
    goodness tensor and the head's logits (None without a head). With ``local=True`` each
    block's and the head's input is detached (forward-forward); ``frozen`` block indices run
    without autograd. ``seed_key`` (a tuple of ints) makes every p-bit draw reproducible.
    """

    def __init__(self, arch, *, tiles: int | None = None, estimator="mean-field",
                 grad_quant=None, seed: int = 0, device=None,
                 head: bool = True, goodness: str = "block", saved: str = "act"):
        super().__init__()
        estimator, grad_quant = as_estimator(estimator), as_quantizer(grad_quant)
        self.saved = saved
        if goodness not in ("block", "activation"):
            raise ValueError(f"goodness must be 'block' or 'activation', got {goodness!r}")
        if tiles is not None:
            rule = simulated_rule(arch)
            if rule is not None or goodness != "block":
                raise ValueError(rule or "a p-bit net reports the block outputs' goodness")
        self.arch, self.classes, self.tiles, self.seed = arch, arch.classes, tiles, int(seed)
        self.goodness = goodness
        self.linears = nn.ModuleList()
        self.acts = nn.ModuleList()
        # batch norm before the activation: always in a p-bit net, where the arch says so
        # (pre_norm) in a real one
        self.pres = nn.ModuleList() if (tiles is not None or arch.pre_norm) else None
        self.norms = nn.ModuleList()  # per block, one module per post layer (batch norms)
        for i, block in enumerate(arch.blocks):
            self.linears.append(self._linear(block.linear, i, tiles, grad_quant))
            if tiles is not None:
                self.acts.append(TiledLogistic(tiles, estimator, seed=seed,
                                               device=_block_device(device, i)))
            self.norms.append(nn.ModuleList(
                _batchnorm(layer.in_shape) if isinstance(layer, BatchNorm) else nn.Identity()
                for layer in block.post))
        if self.pres is not None:
            for block in arch.blocks:
                pre = _batchnorm(block.linear.out_shape)
                if tiles is not None:
                    nn.init.constant_(pre.weight, PRE_SCALE)
                self.pres.append(pre)
        self.quant0 = QuantizeGrad(grad_quant, seed) if (tiles is not None and grad_quant) else None
        self.features = arch.head.n_in
        self.head = None
        if head:
            self.head = (CountedLinear(self.features, arch.classes) if tiles is None
                         else BSNLinear(self.features, arch.classes, tiles_in=tiles))
        for mod in (*self.linears, self.head):
            if isinstance(mod, (CountedConv2d, CountedLinear)):
                mod.saved = saved
        if tiles is not None:  # the post batch norms normalise tile counts
            for norms in self.norms:
                for mod in norms:
                    if not isinstance(mod, nn.Identity):
                        mod.in_dtype = uint_dtype(tiles)
        # activation density per BSN block: sum of counts and number of units seen (training)
        n = len(arch.blocks)
        self.register_buffer("count_sum", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("unit_sum", torch.zeros(n, dtype=torch.float64))

    def _linear(self, layer, i: int, tiles, grad_quant):
        """Block ``i``'s linear layer: torch (real net, or the first layer of a p-bit net,
        multiplying the real input) or an index-and-accumulate layer over tile counts."""
        quant = grad_quant if tiles is not None else None
        if isinstance(layer, Dense):
            if tiles is None or i == 0:
                return CountedLinear(layer.n_in, layer.n_out, grad_quant=quant)
            return BSNLinear(layer.n_in, layer.n_out, tiles_in=tiles, grad_quant=quant,
                             seed=self.seed)
        c_in, c_out = layer.in_shape[0], layer.out_shape[0]
        conv = (layer.kernel, layer.stride, layer.padding)
        if tiles is None or i == 0:
            return CountedConv2d(c_in, c_out, *conv, groups=layer.groups, grad_quant=quant)
        return BSNConv2d(c_in, c_out, *conv, groups=layer.groups, tiles_in=tiles,
                         grad_quant=quant, seed=self.seed)

    @property
    def simulated(self) -> bool:
        return self.tiles is not None

    def layer_groups(self):
        """Parameter groups trained by separate optimizers: one per block, then the head's."""
        groups = [list(self.linears[i].parameters()) + list(self.norms[i].parameters())
                  for i in range(len(self.linears))]
        if self.pres is not None:
            for group, pre in zip(groups, self.pres):
                group += list(pre.parameters())
        return groups + ([list(self.head.parameters())] if self.head is not None else [])

    def forward(self, x, seed_key=(0,), *, local: bool = True, frozen=()):
        ys, head_in = self.blocks(x, seed_key, local=local, frozen=frozen)
        if self.head is None:
            return ys, None
        seed = K.derive_seed(self.seed, stream("head_grad"), *seed_key)  # the head's error rounding
        if self.simulated:
            return ys, self.head(*head_in, seed=seed)
        self.head.step_seed = seed
        return ys, self.head(*head_in)

    def blocks(self, x, seed_key=(0,), *, local: bool = True, frozen=(), upto: int | None = None,
               counts: list | None = None, counts_out: list | None = None, start: int = 0,
               output: bool = False):
        """The blocks: ``(ys, head_in)``, ``self.head(*head_in)`` being the logits.

        ``upto``: run blocks ``0..upto`` only (a greedy stage); ``head_in`` is then None, or
        with ``output`` block ``upto``'s output (the next block's input, detached if ``local``).
        ``start`` (real nets): ``x`` is block ``start``'s input (a frozen lower part's output,
        :mod:`pbitsim.training.frozen`); the blocks below do not run, their ``ys`` are None.
        ``counts_out`` (simulated nets): a list that receives, per block, what a reader of its
        output indexes: ``(counts uint8, (scale, shift, row_scale))`` (SFF's goodness convs).

        ``head_in`` is ``(features,)`` for the real net and ``(counts [B, F] uint8, scale [F],
        shift [F], row_scale [B])`` for the simulated one (the last block's tile counts, its
        batch norm and its layer norm; None where the block has none). ``counts`` (a list,
        simulated net): every block's ``head_in``-like tuple is appended to it (readers of
        every block's counts, such as CaFo's predictors).
        """
        if start and self.simulated:
            raise ValueError("a simulated net runs from its first block (its p-bits resample)")
        ys = [None] * start
        self._key = tuple(seed_key)  # the real layers' error rounding (--grad-bits)
        inp, fold = x, (None, None, None)
        last = len(self.linears) - 1
        stop = last if upto is None else upto
        for i in range(start, stop + 1):
            with torch.set_grad_enabled(torch.is_grad_enabled() and i not in frozen):
                if self.simulated:
                    y, inp, fold = self._sim_block(i, inp, fold, seed_key)
                    if counts is not None:
                        flat, (scale, shift, rows) = _flat_counts(inp, fold)
                        counts.append((flat, scale, shift, rows))
                    if counts_out is not None:
                        counts_out.append((inp, fold))
                else:
                    y, out = self._real_block(i, inp, i < stop or output or (
                        self.head is not None and upto is None))
                    inp = out.detach() if local and out is not None else out
            ys.append(y)
        if upto is not None:
            return ys, (inp if output else None)
        if not self.simulated:
            return ys, ((inp.flatten(1),) if inp is not None else None)
        counts, (scale, shift, rows) = _flat_counts(inp, fold)
        return ys, (counts, scale, shift, rows)

    def _real_block(self, i, x, need_output: bool):
        """Goodness tensor and output of real block ``i`` (output None if nothing reads it)."""
        block = self.arch.blocks[i]
        if isinstance(block.linear, Dense) and x.dim() > 2:
            x = x.flatten(1)
        self.linears[i].step_seed = K.derive_seed(self.seed, stream("real_grad", i), *self._key)
        z = self.linears[i](x)
        if self.pres is not None:  # conv -> batch norm -> ReLU (pre_norm)
            z = counted_bn_backward(self.pres[i](z)[0], self.saved)
        z = counted_relu(z, self.saved)
        g = None
        for layer, mod in zip(block.post, self.norms[i]):
            if layer.is_norm and self.goodness == "activation" and g is None:
                g = z
                if not need_output:
                    return g, None
            if isinstance(layer, Pool):
                z = counted_max_pool(z, layer.size, self.saved)
            elif isinstance(layer, BatchNorm):
                z = counted_bn_backward(mod(z)[0], self.saved)
            else:
                z = rms_normalize(z)
        return (z if g is None else g), z

    def _sim_block(self, i, x, fold, seed_key):
        """Goodness tensor, uint8 tile counts and folded norms of simulated block ``i``."""
        block = self.arch.blocks[i]
        if i == 0:
            if isinstance(block.linear, Dense):
                x = x.flatten(1)
            self.linears[0].step_seed = K.derive_seed(self.seed, stream("real_grad"), *seed_key)
            z = self.linears[0](x)
            if self.quant0 is not None:
                z = self.quant0(z, K.derive_seed(self.seed, stream("first_layer_grad"), *seed_key))
        else:
            scale, shift, rows = fold
            grad_seed = K.derive_seed(self.seed, stream("layer_grad", i), *seed_key)
            if isinstance(block.linear, Dense):
                x, (scale, shift, rows) = _flat_counts(x, fold)
                z = self.linears[i](x, scale, shift, row_scale=rows, seed=grad_seed)
            else:
                z = self.linears[i](x, scale, shift, seed=grad_seed, row_scale=rows)
        s, s_u8 = normalized_tiles(self.pres[i], self.acts[i], z, seed=K.derive_seed(
            self.seed, stream("block_tiles", i), *seed_key))
        if self.training:
            with torch.no_grad():
                self.count_sum[i] += float(s.sum())
                self.unit_sum[i] += s.numel()
        y, scale, shift, rows = s, None, None, None
        for layer, mod in zip(block.post, self.norms[i]):  # order checked by simulated_rule
            if isinstance(layer, Pool):
                s, s_u8 = max_pool_counts(s, self.tiles, layer.size, counts=s_u8)
                y = s
            elif isinstance(layer, BatchNorm):
                y, scale, shift = mod(y)
                y = counted_bn_backward(y, dtype=mod.in_dtype)
            else:
                denom = _rms(y.detach(), RMS_EPS).flatten()
                y = rms_normalize(y)
                rows = 1.0 / denom  # the next layer's per-sample factor
                tally.record(active_counter(), costs.scalar_fn(rows.numel()))
        return y, s_u8, (scale, shift, rows)

    def layer_density(self) -> list[float]:
        """Mean fraction of p-bit samples that are 1, per BSN block (count / (units * M))."""
        units = self.unit_sum.clamp_min(1.0)
        return [float(v) for v in self.count_sum / (units * self.tiles)]


def _flat_counts(counts, fold):
    """Counts ``[B, C, H, W]`` flattened for a dense reader, the per-channel fold per feature."""
    scale, shift, rows = fold
    if counts.dim() == 2:
        return counts, fold
    spatial = counts.shape[2] * counts.shape[3]
    expand = (lambda v: v.repeat_interleave(spatial) if v is not None else None)
    return counts.reshape(counts.shape[0], -1), (expand(scale), expand(shift), rows)


def _batchnorm(shape):
    """Batch norm over the channels of a ``(C, H, W)`` map or the features of a ``(K,)`` vector."""
    if len(shape) == 3:
        return FoldableBatchNorm2d(shape[0], eps=BN_EPS)
    return FoldableBatchNorm1d(shape[0], eps=BN_EPS)


def _block_device(spec, block: int):
    """The p-bit device of one block (``spec``: a device, or its spec): sMTJ blocks are
    separate arrays with their own variation."""
    device = K.parse_device(spec)
    return device.for_layer(block) if isinstance(device, K.Smtj) else device
