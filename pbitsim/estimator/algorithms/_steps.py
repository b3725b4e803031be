"""Building blocks of the algorithm walks: one layer's work over a batch, in :mod:`pbitsim.network.costs`.

Each helper mirrors one module of the trainer's network (``pbitsim.bridge``): a real linear
layer (``CountedConv2d``/``CountedLinear``), an index layer (``BSNConv2d``/``BSNLinear``),
the pooling and normalisation layers and the tiled units. Sizes are for a batch of ``b``.
"""

from __future__ import annotations

from ...network import costs
from ...config import calibration_batches
from ...network.costs import FP, Counts
from ...network.gradients import Quantizer
from ...network.counters import uint_dtype
from ...network.loopnest import Nest
from ...precision import FP32, Precision
from ...network import ops
from ...network.archs import BatchNorm, Block, Layer, LayerNorm
from ...network.tiles import TileStats


def channels(layer: Layer) -> int:
    return layer.out_shape[0]


def real_product(kind: str, layer: Layer, b: int, *, quant: Quantizer | None = None,
                 saved: str = "act", prec: Precision = FP32) -> Counts:
    """The real-valued product of ``layer`` over ``b`` samples in phase ``kind``
    (:func:`pbitsim.network.costs.product` at the datapath's widths), with its loop nest."""
    weights = layer.weights if kind == "weight_grad" else 0
    c = costs.at_precision(costs.product(kind, b * layer.taps, b * layer.n_in, b * layer.n_out,
                                         weights=weights, quant=quant, saved=saved),
                           kind, prec, int_errors=quant is not None)
    return c.shaped(Nest.of(layer, b, kind, c))


def index_product(layer: Layer, stats: TileStats, b: int, prec: Precision = FP32) -> Counts:
    """The index-and-accumulate product of ``layer`` over ``b`` samples, with its loop nest."""
    c = costs.at_precision(ops.index_product(layer, stats).scaled(b), "forward", prec)
    return c.shaped(Nest.of(layer, b, "forward", c, stats))


def index_weight_grad_product(layer: Layer, stats: TileStats, b: int,
                              quant: Quantizer | None = None, prec: Precision = FP32) -> Counts:
    """Its transposed product (the weight gradient) over ``b`` samples: on ``quant`` errors
    integer sums (BGBSFF), at the datapath's widths; with its loop nest."""
    prod = ops.index_weight_grad_product(layer, stats, b).scaled(b)
    if quant is not None:
        prod = costs.quantized_accumulation(prod, quant, prec.int_acc_dtype)
    c = costs.at_precision(prod, "weight_grad", prec, int_errors=quant is not None)
    return c.shaped(Nest.of(layer, b, "weight_grad", c, stats))


def real_forward(layer: Layer, b: int, *, train: bool, saved: str = "act",
                 prec: Precision = FP32) -> Counts:
    """A real-valued dense/conv layer with its bias; under backprop its input is stashed.

    Fixed point (``prec``): the weights (per output channel) and the input (per tensor)
    quantized, the product at the datapath's widths, one rescaling multiply per output (as
    :class:`pbitsim.bridge.counted.CountedConv2d` runs it)."""
    c = real_product("forward", layer, b, prec=prec)
    if prec.fixed:
        c.merge(costs.quantize_fixed(layer.weights, channels(layer), prec.weight_dtype, "weight"))
        c.merge(costs.quantize_fixed(b * layer.n_in, 1, prec.weight_dtype, "act"))
        c.merge(costs.dequantize(b * layer.n_out))
    if saved == "stash" and train:
        c.merge(costs.stash(b * layer.n_in, prec.weight_dtype))
    return c.merge(costs.bias(b * layer.n_out, channels(layer)))


def real_weight_grad(layer: Layer, b: int, *, quant: Quantizer | None = None,
                     saved: str = "act", prec: Precision = FP32) -> Counts:
    """Its weight gradient (BGBSFF: on ``quant`` errors); with ``--grad-bits`` the error is
    quantized first and the integer sums rescaled once per weight."""
    c = real_product("weight_grad", layer, b, quant=quant, saved=saved, prec=prec)
    if prec.grad_bits is not None:
        c.merge(costs.quantize_fixed(b * layer.n_out, channels(layer), prec.grad_dtype, "grad"))
        c.merge(costs.dequantize(layer.weights))
    return c.merge(costs.bias_grad(b * layer.n_out, channels(layer)))


def real_input_grad(layer: Layer, b: int, prec: Precision = FP32) -> Counts:
    c = real_product("input_grad", layer, b, prec=prec)
    if prec.grad_bits is not None:
        c.merge(costs.dequantize(b * layer.n_in))
    return c


def reader_of(prev: Block) -> tuple[bool, bool]:
    """How a layer reads ``prev``'s tile counts: ``(fold, rows)`` = the previous batch norm
    folded into its weights, the previous layer norm applied as a per-sample factor."""
    return (any(isinstance(l, BatchNorm) for l in prev.post),
            any(isinstance(l, LayerNorm) for l in prev.post))


def index_forward(layer: Layer, stats: TileStats, b: int, fold: bool = True,
                  rows: bool = False, prec: Precision = FP32) -> Counts:
    """An index-and-accumulate layer reading tile counts: the previous batch norm folded into
    the weights (once per call), the product, the bias map added (or, behind a layer norm, the
    per-sample factor and then the bias). Fixed point: the folded weights quantized per output
    channel, the product at the datapath's widths, each sum rescaled once."""
    c = costs.fold_input_affine(layer.weights) if fold else Counts()
    if prec.fixed:
        c.merge(costs.quantize_fixed(layer.weights, channels(layer), prec.weight_dtype, "weight"))
    c.merge(index_product(layer, stats, b, prec))
    n = b * layer.n_out
    if prec.fixed:
        c.merge(costs.dequantize(n))
    if rows:
        return c.merge(costs.row_scale(n, channels(layer), True))
    return c.merge(costs.bias(n, channels(layer)))


def index_weight_grad(layer: Layer, stats: TileStats, b: int, quant: Quantizer | None,
                      fold: bool = True, rows: bool = False, prec: Precision = FP32) -> Counts:
    """Its weight gradient: the transposed index product, back through the folded affine, the
    bias gradient; BGBSFF quantizes the error first and accumulates integers, and so does a
    fixed-point datapath with ``--grad-bits``."""
    n = b * layer.n_out
    c = costs.row_scale_backward(n, channels(layer), True) if rows else Counts()
    if quant is not None:
        c.merge(quant.counts(n))
    elif prec.grad_bits is not None:
        c.merge(costs.quantize_fixed(n, channels(layer), prec.grad_dtype, "grad"))
    c.merge(index_weight_grad_product(layer, stats, b, quant, prec))
    if fold:
        c.merge(costs.fold_input_affine_backward(layer.weights, n))
    if not rows:
        c.merge(costs.bias_grad(n, channels(layer)))
    if quant is not None or prec.grad_bits is not None:
        c.merge(costs.dequantize(layer.weights + (0 if rows else layer.biases)))
    return c


def block_forward(arch, block: Block, params, b: int, *, tiled: bool, train: bool,
                  batch_stats: bool | None = None, pre_norm: bool = False,
                  post: tuple | None = None) -> Counts:
    """One block's forward over ``b`` samples, as the trainer's ``Net`` runs it.

    The linear layer (real, or on a tiled net after the first block index-and-accumulate on
    the previous block's tile counts); then real: its batch norm if ``pre_norm``, the ReLU;
    tiled: the pre-activation batch norm and the tiled p-bit units; then the ``post`` layers
    (default ``block.post``) at the activation's width, a layer norm on a tiled net adding the
    readers' per-sample factor. ``train``: ReLU masks, pool indices and the linear layer's
    input kept for a backward pass; ``batch_stats``: batch norms on batch statistics (default
    ``train``).
    """
    batch_stats = train if batch_stats is None else batch_stats
    lin = block.linear
    post = block.post if post is None else post
    xin = params.input_stats(arch, block.index) if tiled else None
    if xin is None:
        c = real_forward(lin, b, train=train, prec=params.precision)
    else:
        c = index_forward(lin, xin, b, *reader_of(arch.blocks[block.index - 1]),
                          prec=params.precision)
    if tiled or pre_norm:
        pre = costs.batchnorm if batch_stats else costs.batchnorm_eval
        c.merge(pre(b * lin.n_out, channels(lin)))
    if tiled:
        c.merge(ops.tiled(lin.n_out, params.units.tiles).scaled(b))
    else:
        c.merge(costs.relu(b * lin.n_out, train))
    dtype = count_dtype(params.units.tiles) if tiled else FP
    for layer in post:
        c.merge(layer.forward_counts(b, train=train, batch_stats=batch_stats, dtype=dtype))
        if tiled and isinstance(layer, LayerNorm):  # the per-sample factor the next layer applies
            c.merge(costs.scalar_fn(b))
    return c


def running_norms(arch, tiled: bool) -> bool:
    """Whether a net keeps running batch-norm statistics for its test pass: a tiled net (its
    pre-activation batch norms), a real one with ``pre_norm`` or a batch-norm post layer."""
    return tiled or arch.pre_norm or any(isinstance(l, BatchNorm) for b in arch.blocks
                                         for l in b.post)


def calibration_forward(params, forward) -> Counts:
    """One block's share of the run's batch-norm calibration in one training step of
    ``params.batch_size`` samples: ``forward(b)`` (the block's forward over ``b`` samples in
    training mode, no gradients) over the calibration batches
    (:func:`pbitsim.config.calibration_batches`), times ``batch_size / run_samples``."""
    n = params.calibration_samples
    c = Counts()
    if not n:
        return c
    if not params.run_samples:
        raise ValueError("a calibration needs the run's training samples (run_samples)")
    sizes: dict[int, int] = {}
    for b in calibration_batches(n, params.batch_size, n):
        sizes[b] = sizes.get(b, 0) + 1
    for b, times in sizes.items():
        c.merge(forward(b).scaled(times))
    return c.scaled(params.batch_size / params.run_samples)


def block_params(block: Block, pre_norm: bool = False) -> int:
    """Trainable parameters of a block: the linear layer, its batch-norm affines and (BSFF) the
    pre-activation batch norm."""
    n = block.linear.params + sum(l.affine_params for l in block.post)
    return n + (2 * channels(block.linear) if pre_norm else 0)


def count_dtype(tiles: int) -> str:
    return uint_dtype(tiles)
