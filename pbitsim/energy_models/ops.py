"""Per-layer count builders shared by the algorithm models (expected counts per sample).

Conventions, matching the Numba kernels so measured and analytic counts agree:

* a linear layer reads each input once (``act_read``), fetches a weight per use
  (``weight_read``: one per multiply-accumulate, or per nonzero input for
  index-and-accumulate) and writes each output once (``act_write``);
* index-and-accumulate adds a weight row x times for an input count x: ``add:fp32`` =
  taps * E[x], ``weight_read:fp32`` = taps * P(x > 0), no multiplies;
* the weight-gradient product reads the output gradient per use (``grad_read``) and
  writes the accumulated gradient once per batch (``grad_write`` / batch);
* work done once per batch (optimizer steps, batch-norm folding, per-channel scalars)
  is divided by the batch size: every count here is per training sample;
* a transcendental (exp, reciprocal, rsqrt) costs ``SCALAR_FN``: a short polynomial
  plus a Newton step, 4 multiplies and 4 adds;
* ``saved`` names where a tensor kept for a backward pass lives: ``act`` (local to the
  layer: forward-forward) or ``stash`` (kept across the network until backprop's
  backward pass reaches it).
"""

from __future__ import annotations

import math

from ..counters import uint_dtype
from .archs import Layer
from .counts import Counts
from .tiles import TileStats

FP = "fp32"
SCALAR_FN = {"mul": 4, "add": 4}
# Adam per parameter per step: m and v updates (5 mul, 2 add), bias-corrected step
# lr * m / (sqrt(v) + eps) (a rsqrt as SCALAR_FN, 1 mul, 1 add), the weight update (1 add).
ADAM_OPS = {"mul": 5 + 4 + 1, "add": 2 + 4 + 1 + 1}


def _scalar(times: float, dtype: str = FP) -> Counts:
    c = Counts()
    for op, n in SCALAR_FN.items():
        c.add(f"{op}:{dtype}", n * times)
    return c


# --- linear layers --------------------------------------------------------------------

def linear_real(layer: Layer) -> Counts:
    """Real-valued forward: a multiply and an add per tap, plus the bias."""
    return (Counts()
            .add(f"mul:{FP}", layer.taps).add(f"add:{FP}", layer.taps + layer.n_out)
            .add(f"weight_read:{FP}", layer.taps + layer.n_out)
            .add(f"act_read:{FP}", layer.n_in).add(f"act_write:{FP}", layer.n_out))


def linear_index(layer: Layer, stats: TileStats) -> Counts:
    """Index-and-accumulate forward on tile counts (``index_matmul``/``index_conv2d``)."""
    return (index_product(layer, stats)
            .add(f"add:{FP}", layer.n_out).add(f"weight_read:{FP}", layer.n_out))


def index_product(layer: Layer, stats: TileStats) -> Counts:
    """Just the index-and-accumulate product, as ``index_matmul`` counts it."""
    return (Counts()
            .add(f"add:{FP}", layer.taps * stats.mean_count)
            .add(f"weight_read:{FP}", layer.taps * stats.nonzero)
            .add(f"act_read:{uint_dtype(stats.tiles)}", layer.n_in)
            .add(f"act_write:{FP}", layer.n_out))


def input_grad_real(layer: Layer) -> Counts:
    """Backprop's input gradient W^T dY (skipped for the first layer)."""
    return (Counts()
            .add(f"mul:{FP}", layer.taps).add(f"add:{FP}", layer.taps)
            .add(f"weight_read:{FP}", layer.taps)
            .add(f"grad_read:{FP}", layer.n_out).add(f"grad_write:{FP}", layer.n_in))


def weight_grad_real(layer: Layer, batch: int, saved: str = "act") -> Counts:
    """dW = X^T dY on a real input kept in ``saved``; bias gradient alongside."""
    return (Counts()
            .add(f"mul:{FP}", layer.taps).add(f"add:{FP}", layer.taps + layer.n_out)
            .add(f"grad_read:{FP}", layer.taps)
            .add(f"{saved}_read:{FP}", layer.n_in)
            .add(f"grad_write:{FP}", layer.params / batch))


def weight_grad_index(layer: Layer, stats: TileStats, batch: int) -> Counts:
    """dW = X^T dY with tile-count inputs (``index_matmul_xt``): adds only."""
    return (index_weight_grad_product(layer, stats, batch)
            .add(f"add:{FP}", layer.n_out).add(f"grad_write:{FP}", layer.biases / batch))


def index_weight_grad_product(layer: Layer, stats: TileStats, batch: int) -> Counts:
    """Just the transposed index product, as ``index_matmul_xt`` counts it per sample."""
    return (Counts()
            .add(f"add:{FP}", layer.taps * stats.mean_count)
            .add(f"grad_read:{FP}", layer.taps * stats.nonzero)
            .add(f"act_read:{uint_dtype(stats.tiles)}", layer.n_in)
            .add(f"grad_write:{FP}", layer.weights / batch))


def sign_accumulator(layer: Layer, tiles: int, batch: int) -> str:
    """Integer width that holds a batch's sum of +-x over every position sharing a weight."""
    bound = tiles * batch * layer.positions_out
    return f"int{math.ceil(math.log2(bound + 1)) + 1}"


def weight_grad_sign(layer: Layer, stats: TileStats | None, batch: int,
                     acc: str) -> Counts:
    """dW with sign-binarized output gradients (BGBSFF): x is added or subtracted.

    Tile-count inputs accumulate in the integer ``acc``; a real input (the first layer)
    accumulates in fp32. The sign bits are read per use at one bit each.
    """
    c = Counts()
    if stats is None:
        c.add(f"add:{FP}", layer.taps).add("grad_read:u1", layer.taps)
        c.add(f"act_read:{FP}", layer.n_in).add(f"grad_write:{FP}", layer.params / batch)
        c.add(f"add:{acc}", layer.n_out)
        return c
    c.add(f"add:{acc}", layer.taps * stats.mean_count + layer.n_out)
    c.add("grad_read:u1", layer.taps * stats.nonzero)
    c.add(f"act_read:{uint_dtype(stats.tiles)}", layer.n_in)
    c.add(f"grad_write:{acc}", layer.params / batch)
    return c


# --- activations ----------------------------------------------------------------------

def relu(n: int, train: bool, saved: str = "act") -> Counts:
    """ReLU as its own pass; in training the 1-bit mask is kept for the backward pass."""
    c = Counts().add(f"act_read:{FP}", n).add(f"cmp:{FP}", n).add(f"act_write:{FP}", n)
    if train:
        c.add(f"{saved}_write:u1", n)
    return c


def relu_backward(n: int, saved: str = "act") -> Counts:
    """Gradient through ReLU: a 1-bit select per element."""
    return (Counts().add(f"{saved}_read:u1", n).add("cmp:u1", n)
            .add(f"grad_read:{FP}", n).add(f"grad_write:{FP}", n))


def tiled(n: int, tiles: int) -> Counts:
    """Tiled logistic units (``tiled_logistic``): M p-bit samples per unit.

    The tile offsets are the p-bits' bias inputs and the M bits are summed inside the
    unit, so both are part of the p-bit sample.
    """
    return (Counts().add("pbit_sample", tiles * n).add(f"act_read:{FP}", n)
            .add(f"act_write:{uint_dtype(tiles)}", n))


def tiled_backward(n: int, tiles: int) -> Counts:
    """Mean-field gradient through a tiled unit: dL/dz = dL/dx * sum_i sigmoid'(z - o_i).

    sigmoid' is piecewise linear: per tile an offset add, a segment compare, a slope
    multiply and an accumulate; one more multiply by the upstream gradient.
    """
    return (Counts().add(f"act_read:{FP}", n).add(f"grad_read:{FP}", n)
            .add(f"grad_write:{FP}", n)
            .add(f"add:{FP}", 2 * tiles * n).add(f"cmp:{FP}", tiles * n)
            .add(f"mul:{FP}", (tiles + 1) * n))


# --- pooling and normalization --------------------------------------------------------

def pool(layer: Layer, dtype: str, train: bool, saved: str = "act") -> Counts:
    """Max-pool: s*s - 1 comparisons per output at the activation's width."""
    window = layer.size * layer.size
    c = (Counts().add(f"cmp:{dtype}", (window - 1) * layer.n_out)
         .add(f"act_read:{dtype}", layer.n_in).add(f"act_write:{dtype}", layer.n_out))
    if train:
        c.add(f"{saved}_write:{uint_dtype(window - 1)}", layer.n_out)
    return c


def pool_backward(layer: Layer, gdtype: str = FP, saved: str = "act") -> Counts:
    """Route each output gradient to its argmax; the other inputs get zeros."""
    window = layer.size * layer.size
    return (Counts().add(f"{saved}_read:{uint_dtype(window - 1)}", layer.n_out)
            .add(f"grad_read:{gdtype}", layer.n_out).add(f"grad_write:{gdtype}", layer.n_in))


def batchnorm_real(layer: Layer, batch: int) -> Counts:
    """Training-mode batch norm on real inputs: batch statistics, then y = a x + b."""
    n, ch = layer.n_in, layer.channels_out
    return (Counts().add(f"add:{FP}", 3 * n).add(f"mul:{FP}", 2 * n)
            .add(f"act_read:{FP}", 2 * n).add(f"act_write:{FP}", n)
            .merge(_scalar(ch / batch))
            .add(f"mul:{FP}", 2 * ch / batch).add(f"add:{FP}", 2 * ch / batch))


def batchnorm_backward(layer: Layer, saved: str = "act", xdtype: str = FP) -> Counts:
    """Batch-norm input gradient (two reductions, then a x (dy - m1 - x_hat m2)).

    With tile-count inputs (``xdtype`` = uN) x_hat is recomputed from the count.
    """
    n = layer.n_in
    c = (Counts().add(f"add:{FP}", 4 * n).add(f"mul:{FP}", 3 * n)
         .add(f"grad_read:{FP}", 2 * n).add(f"{saved}_read:{xdtype}", 2 * n)
         .add(f"grad_write:{FP}", n))
    if xdtype != FP:
        c.add(f"add:{FP}", n).add(f"mul:{FP}", n)
    return c


def batchnorm_counts(layer: Layer, tiles: int, batch: int, next_linear: Layer) -> Counts:
    """Batch norm on tile counts (BSFF), training mode.

    Per sample and channel the integer sums of x and x^2 (shared with the goodness);
    per batch the affine is folded into the next layer's weights and bias (2 multiplies
    and an add per weight), so that layer still index-accumulates integer counts.
    """
    n, ch = layer.n_in, layer.channels_out
    u = uint_dtype(tiles)
    w = next_linear.weights
    return (Counts().add("add:int32", 2 * n).add(f"mul:{u}", n).add(f"act_read:{u}", n)
            .merge(_scalar(ch / batch))
            .add(f"mul:{FP}", (2 * ch + 2 * w) / batch).add(f"add:{FP}", (2 * ch + w) / batch)
            .add(f"weight_read:{FP}", w / batch).add(f"weight_write:{FP}", w / batch))


def layernorm_real(layer: Layer, sum_sq_known: bool) -> Counts:
    """Length normalization y = x / ||x|| (Hinton FF); the sum of squares is shared
    with the goodness when the goodness already computed it."""
    n = layer.n_in
    c = (Counts().add(f"mul:{FP}", n).add(f"act_read:{FP}", n).add(f"act_write:{FP}", n)
         .merge(_scalar(1)))
    if not sum_sq_known:
        c.add(f"mul:{FP}", n).add(f"add:{FP}", n)
    return c


def layernorm_backward(layer: Layer, saved: str = "act") -> Counts:
    n = layer.n_in
    return (Counts().add(f"add:{FP}", 3 * n).add(f"mul:{FP}", 3 * n)
            .add(f"grad_read:{FP}", 2 * n).add(f"{saved}_read:{FP}", n)
            .add(f"grad_write:{FP}", n))


def layernorm_counts(layer: Layer, tiles: int, next_linear: Layer,
                     sum_sq_known: bool) -> Counts:
    """Length normalization of tile counts: the per-sample 1/||x|| scales the next
    layer's outputs instead of its inputs, so the counts stay integers."""
    n = layer.n_in
    u = uint_dtype(tiles)
    c = Counts().merge(_scalar(1)).add(f"mul:{FP}", next_linear.n_out)
    if not sum_sq_known:
        c.add(f"mul:{u}", n).add("add:int32", n).add(f"act_read:{u}", n)
    return c


# --- losses ---------------------------------------------------------------------------

def goodness_real(n: int, classes: int, variant: str) -> Counts:
    """Goodness (sum of squares per class group, or of the layer) and its loss."""
    c = Counts().add(f"mul:{FP}", n).add(f"add:{FP}", n).add(f"act_read:{FP}", n)
    return c.merge(_goodness_loss(classes, variant))


def goodness_counts(n: int, tiles: int, classes: int, variant: str, sums_known: bool,
                    affine_channels: int = 0) -> Counts:
    """Goodness of tile counts, from integer sums of x and x^2.

    Behind batch norm (y = a x + b per channel) sum y^2 = a^2 S2 + 2ab S1 + n b^2, so
    per element only the integer sums are made (already by batch norm when
    ``sums_known``), plus a few real operations per channel (``affine_channels``).
    """
    c = Counts().add(f"mul:{FP}", 4 * affine_channels).add(f"add:{FP}", 3 * affine_channels)
    if not sums_known:
        u = uint_dtype(tiles)
        c.add(f"mul:{u}", n).add("add:int32", n).add(f"act_read:{u}", n)
    return c.merge(_goodness_loss(classes, variant))


def _goodness_loss(classes: int, variant: str) -> Counts:
    if variant == "cwc":   # softmax cross-entropy over the class goodnesses
        return softmax_ce(classes, train=True)
    return _scalar(1).add(f"add:{FP}", 2)   # logistic of (goodness - threshold)


def local_grad_real(n: int) -> Counts:
    """dL/dy = (dL/dG) * 2y / n_group: one multiply per element (scalar premultiplied)."""
    return (Counts().add(f"mul:{FP}", n).add(f"act_read:{FP}", n)
            .add(f"grad_write:{FP}", n))


def local_grad_counts(n: int, tiles: int) -> Counts:
    """dL/dy for tile counts behind a per-channel affine: s (a x + b), in fp32."""
    u = uint_dtype(tiles)
    return (Counts().add(f"mul:{FP}", 2 * n).add(f"add:{FP}", n).add(f"act_read:{u}", n)
            .add(f"grad_write:{FP}", n))


def local_sign_counts(n: int, tiles: int) -> Counts:
    """sign(dL/dy) for tile counts (BGBSFF): one compare of x with a per-channel
    threshold (-b/a), one bit written."""
    u = uint_dtype(tiles)
    return Counts().add(f"cmp:{u}", n).add(f"act_read:{u}", n).add("grad_write:u1", n)


def softmax_ce(classes: int, train: bool) -> Counts:
    """Softmax cross-entropy over ``classes`` logits; in training its gradient p - y."""
    c = _scalar(classes + 1).add(f"add:{FP}", classes).add(f"mul:{FP}", classes)
    if train:
        c.add(f"add:{FP}", classes).add(f"grad_write:{FP}", classes)
    return c


def argmax(classes: int) -> Counts:
    return Counts().add(f"cmp:{FP}", classes - 1)


# --- weight updates -------------------------------------------------------------------

def adam(params: int, batch: int) -> Counts:
    """One Adam step per batch over ``params`` weights, per sample."""
    per = params / batch
    c = Counts()
    for op, n in ADAM_OPS.items():
        c.add(f"{op}:{FP}", n * per)
    return (c.add(f"grad_read:{FP}", per).add(f"weight_read:{FP}", per)
            .add(f"weight_write:{FP}", per)
            .add(f"state_read:{FP}", 2 * per).add(f"state_write:{FP}", 2 * per))


def sign_update(params: int, batch: int, acc: str) -> Counts:
    """BGBSFF update: w -= 2^-k * acc (a shift) -- one fp32 add, no optimizer state."""
    per = params / batch
    return (Counts().add(f"add:{FP}", per).add(f"grad_read:{acc}", per)
            .add(f"weight_read:{FP}", per).add(f"weight_write:{FP}", per))
