"""The cost vocabulary: what every operation of a training step or an inference counts.

One function per operation, used by both sides of pbitsim:

* the torch bridge (``pbitsim.bridge``) calls them with the shapes a layer actually ran on and
  adds the result to the active :class:`~pbitsim.network.counters.OpCounter` (the *measured* counts of
  ``pbitsim train``);
* the analytic estimator (``pbitsim.estimator``) calls them with the shapes of one training
  step of ``batch`` samples and divides by the batch (the *estimated* counts of
  ``pbitsim estimate``).

Only the index-and-accumulate products and the p-bit sampling are counted elsewhere: by the
Numba kernels themselves (measured) and by their expected-value forms in
``network.ops`` (estimated), which a test holds to the kernels' conventions.

Every function returns a :class:`Counts` (``{"op:dtype": number}``); sizes are element counts
of the whole call (a batch, not a sample). Conventions:

* a multiply-accumulate is one ``mul`` and one ``add`` and fetches one weight word
  (``weight_read`` per use: no reuse is modelled); a weight-gradient product reads the output
  gradient per use (``grad_read``) and writes each weight's gradient once per step;
* a transcendental (exp, log, reciprocal, rsqrt) costs :data:`SCALAR_FN`: a short polynomial and
  a Newton step, 4 multiplies and 4 adds;
* a tensor kept for a backward pass lives in ``saved``: ``act`` (local to the layer, as in
  forward-forward) or ``stash`` (kept across the network until backprop's backward pass reaches
  it, priced in DRAM by the energy tables);
* work once per step (optimizer, per-channel scalars, weight folding) is counted once per call:
  the estimator's division by the batch turns it into a per-sample share.

This module is pure Python (no numpy, numba or torch): ``pbitsim estimate`` imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "Counts", "FP", "SCALAR_FN", "ADAM_OPS", "grad_dtype",
    "index_dtype", "scalar_fn", "elementwise", "product", "bias", "bias_grad", "relu",
    "relu_backward", "maxpool", "maxpool_backward", "batchnorm", "batchnorm_eval",
    "batchnorm_backward", "rms_norm", "rms_norm_backward", "goodness", "goodness_backward",
    "softmax_ce", "argmax", "tiled_backward", "straight_through_backward", "adam",
    "adamw",
    "shift_update", "fold_input_affine", "fold_input_affine_backward", "sum_predictions",
    "ff_pair_loss", "stash", "row_scale", "row_scale_backward", "quantized_accumulation",
    "dequantize", "at_precision", "quantize_fixed",
]

FP = "fp32"
#: A transcendental or a division: polynomial + Newton step.
SCALAR_FN = {"mul": 4, "add": 4}
#: Adam per parameter per step: m and v (5 mul, 2 add), the bias-corrected step
#: lr * m / (sqrt(v) + eps) (an rsqrt as SCALAR_FN, 1 mul, 1 add) and the update (1 add).
ADAM_OPS = {"mul": 5 + SCALAR_FN["mul"] + 1, "add": 2 + SCALAR_FN["add"] + 1 + 1}


class Counts(dict):
    """``{count key: number}`` in the shared vocabulary (floats: expectations allowed).

    ``nests``: the products these counts contain, as ``(Nest, multiplicity)`` pairs
    (:class:`pbitsim.network.loopnest.Nest`, attached by the estimator's step helpers); they
    follow every :meth:`merge`, :meth:`scaled` and copy, so a hardware model sees each product
    of a step with its weight. They take no part in equality or in the flat price.
    """

    __slots__ = ("nests",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        src = args[0] if args else None
        self.nests = list(src.nests) if isinstance(src, Counts) else []

    def add(self, key: str, n: float) -> "Counts":
        if n:
            self[key] = self.get(key, 0.0) + float(n)
        return self

    def merge(self, other: Mapping[str, float]) -> "Counts":
        for key, n in other.items():
            self.add(key, n)
        if isinstance(other, Counts) and other is not self:
            self.nests.extend(other.nests)
        return self

    def scaled(self, factor: float) -> "Counts":
        out = Counts({k: v * factor for k, v in self.items()})
        out.nests = [(nest, m * factor) for nest, m in self.nests]
        return out

    def shaped(self, nest) -> "Counts":
        """Attach ``nest`` (built from these counts: a product's own) and return self."""
        self.nests.append((nest, 1.0))
        return self

    def __add__(self, other: Mapping[str, float]) -> "Counts":
        return Counts(self).merge(other)

    def __reduce__(self):  # pickles (sweep workers) keep the nests
        return (_rebuild_counts, (dict(self), self.nests))

    @classmethod
    def total(cls, parts) -> "Counts":
        out = cls()
        for part in parts:
            out.merge(part)
        return out


def _rebuild_counts(items, nests):
    out = Counts(items)
    out.nests = list(nests)
    return out


def grad_dtype(quant) -> str:
    """Width of a gradient word: fp32, or the word of a BGBSFF quantizer ``quant`` (a
    :class:`pbitsim.network.gradients.Quantizer`: ternary u2, sign u1)."""
    return FP if quant is None else quant.dtype


def index_dtype(window: int) -> str:
    """Width of a max-pool argmax index over ``window`` inputs."""
    return f"u{max(1, int(window - 1).bit_length())}"


def scalar_fn(times: float, dtype: str = FP) -> Counts:
    """``times`` transcendental functions (exp, log, reciprocal, rsqrt)."""
    c = Counts()
    for op, n in SCALAR_FN.items():
        c.add(f"{op}:{dtype}", n * times)
    return c


def elementwise(n: float, *, add: float = 0, mul: float = 0, cmp: float = 0, reads: float = 1,
                writes: float = 1, dtype: str = FP) -> Counts:
    """``n`` elements, each costing ``add``/``mul``/``cmp`` ops and ``reads``/``writes`` words."""
    return (Counts().add(f"add:{dtype}", n * add).add(f"mul:{dtype}", n * mul)
            .add(f"cmp:{dtype}", n * cmp).add(f"act_read:{dtype}", n * reads)
            .add(f"act_write:{dtype}", n * writes))


# --- real-valued products -------------------------------------------------------------------

def product(kind: str, macs: float, n_in: float, n_out: float, *, weights: float = 0,
            quant=None, saved: str = "act") -> Counts:
    """A real-valued product of ``macs`` multiply-accumulates (dense or convolution).

    Parameters
    ----------
    kind : {"forward", "weight_grad", "input_grad"}
        ``forward``: a mul and an add per MAC, a weight fetched per MAC, the input read and
        the output written once. ``weight_grad`` (``dW = x^T g``): the output gradient read per
        MAC, the input read once from ``saved``, ``weights`` gradient words written (once per
        step); with a quantized ``g`` (``quant``) only adds, and the gradient words are read at
        their width. ``input_grad`` (``g W^T``): weights fetched per MAC, ``g`` read once, the
        input gradient written.
    macs, n_in, n_out : number
        Multiply-accumulates and the forward's input and output element counts.
    """
    c = Counts().add(f"add:{FP}", macs)
    if quant is None:
        c.add(f"mul:{FP}", macs)
    if kind == "forward":
        c.add(f"weight_read:{FP}", macs).add(f"act_read:{FP}", n_in).add(f"act_write:{FP}", n_out)
    elif kind == "weight_grad":
        c.add(f"grad_read:{grad_dtype(quant)}", macs).add(f"{saved}_read:{FP}", n_in)
        c.add(f"grad_write:{FP}", weights)
        if quant is not None:  # each weight's sum scaled once by its channel's error scale
            c.add(f"mul:{FP}", weights)
    elif kind == "input_grad":
        c.add(f"weight_read:{FP}", macs).add(f"grad_read:{FP}", n_out)
        c.add(f"grad_write:{FP}", n_in)
    else:
        raise ValueError(f"unknown product {kind!r}; choose forward, weight_grad or input_grad")
    return c


def bias(n_out: float, channels: float) -> Counts:
    """Adding a bias to ``n_out`` outputs (``channels`` bias words, read once per call)."""
    return Counts().add(f"add:{FP}", n_out).add(f"weight_read:{FP}", channels)


def bias_grad(n_out: float, channels: float) -> Counts:
    """The bias gradient: the output gradient summed over the batch and positions."""
    return Counts().add(f"add:{FP}", n_out).add(f"grad_write:{FP}", channels)


# --- activations ----------------------------------------------------------------------------

def relu(n: float, train: bool, saved: str = "act") -> Counts:
    """ReLU on ``n`` elements; in training the 1-bit mask is kept for the backward pass."""
    c = elementwise(n, cmp=1)
    if train:
        c.add(f"{saved}_write:u1", n)
    return c


def relu_backward(n: float, saved: str = "act") -> Counts:
    """Gradient through ReLU: the mask read and a select per element."""
    return (Counts().add(f"{saved}_read:u1", n).add("cmp:u1", n)
            .add(f"grad_read:{FP}", n).add(f"grad_write:{FP}", n))


def tiled_backward(n: float, tiles: int) -> Counts:
    """Mean-field gradient through ``n`` tiled units: ``dL/dz = dL/dx * sum_i sigmoid'(z - o_i)``.

    sigmoid' is evaluated piecewise linearly: per tile an offset add, a segment compare, a slope
    multiply and an accumulate; one more multiply by the upstream gradient. (The simulator
    computes the exact derivative; this is what the hardware's backward costs.)
    """
    return (Counts().add(f"act_read:{FP}", n).add(f"grad_read:{FP}", n)
            .add(f"grad_write:{FP}", n)
            .add(f"add:{FP}", 2 * tiles * n).add(f"cmp:{FP}", tiles * n)
            .add(f"mul:{FP}", (tiles + 1) * n))


def straight_through_backward(n: float) -> Counts:
    """Straight-through gradient through ``n`` tiled units: a range compare per element."""
    return elementwise(n, cmp=1)


# --- pooling and normalisation --------------------------------------------------------------

def maxpool(n_out: float, window: int, dtype: str, train: bool, saved: str = "act") -> Counts:
    """Max-pool: ``window - 1`` compares per output at the activation's width; in training the
    argmax index is kept."""
    c = (Counts().add(f"cmp:{dtype}", (window - 1) * n_out)
         .add(f"act_read:{dtype}", window * n_out).add(f"act_write:{dtype}", n_out))
    if train:
        c.add(f"{saved}_write:{index_dtype(window)}", n_out)
    return c


def maxpool_backward(n_out: float, n_in: float, window: int, gdtype: str = FP,
                     saved: str = "act") -> Counts:
    """Route each output gradient to its argmax; the other inputs get zeros."""
    return (Counts().add(f"{saved}_read:{index_dtype(window)}", n_out)
            .add(f"grad_read:{gdtype}", n_out).add(f"grad_write:{gdtype}", n_in))


def batchnorm(n: float, channels: float, dtype: str = FP) -> Counts:
    """Training-mode batch norm of ``n`` elements in ``channels`` channels: batch mean and
    variance (an add, and a mul and an add per element), an rsqrt and the affine folded per
    channel, then ``y = a x + b`` (a mul and an add); ``x`` read twice, ``y`` written.

    ``dtype``: the input's width. Tile counts (``uN``) are summed in integers (``int32``) and
    squared at their width; the affine is still real.
    """
    if dtype == FP:
        c = Counts().add(f"add:{FP}", 2 * n).add(f"mul:{FP}", n)
    else:
        c = Counts().add("add:int32", 2 * n).add(f"mul:{dtype}", n)
    c.add(f"mul:{FP}", n).add(f"add:{FP}", n)
    c.add(f"act_read:{dtype}", 2 * n).add(f"act_write:{FP}", n)
    c.merge(scalar_fn(channels)).add(f"mul:{FP}", 2 * channels).add(f"add:{FP}", 2 * channels)
    return c.add(f"weight_read:{FP}", 2 * channels)


def batchnorm_eval(n: float, channels: float, dtype: str = FP) -> Counts:
    """Inference batch norm: ``y = a x + b`` with the running statistics (a mul and an add)."""
    return (Counts().add(f"mul:{FP}", n).add(f"add:{FP}", n).add(f"act_read:{dtype}", n)
            .add(f"act_write:{FP}", n).add(f"weight_read:{FP}", 2 * channels))


def batchnorm_backward(n: float, channels: float, saved: str = "act", dtype: str = FP) -> Counts:
    """Batch-norm gradients: two reductions (gamma's and beta's gradients), then
    ``a (dy - m1 - x_hat m2)`` per element; ``x_hat`` recomputed from the saved input."""
    return (Counts().add(f"add:{FP}", 5 * n).add(f"mul:{FP}", 4 * n)
            .add(f"grad_read:{FP}", 2 * n).add(f"{saved}_read:{dtype}", n)
            .add(f"grad_write:{FP}", n + 2 * channels))


def rms_norm(n: float, rows: float) -> Counts:
    """Hinton's layer normalisation ``x / sqrt(mean(x^2))`` of ``rows`` rows, ``n`` elements."""
    return (Counts().add(f"mul:{FP}", 2 * n).add(f"add:{FP}", n).add(f"act_read:{FP}", 2 * n)
            .add(f"act_write:{FP}", n).merge(scalar_fn(rows)))


def rms_norm_backward(n: float, rows: float) -> Counts:
    """Gradient through :func:`rms_norm`: ``(g - y mean(g y)) / rms`` per element."""
    return (Counts().add(f"mul:{FP}", 3 * n).add(f"add:{FP}", 2 * n)
            .add(f"grad_read:{FP}", n).add(f"act_read:{FP}", n).add(f"grad_write:{FP}", n)
            .add(f"mul:{FP}", rows))


# --- losses ---------------------------------------------------------------------------------

def goodness(n: float, outputs: float) -> Counts:
    """Goodness: ``n`` elements squared and summed into ``outputs`` sums (class groups of a
    block, or a layer), each scaled to a mean."""
    return (Counts().add(f"mul:{FP}", n + outputs).add(f"add:{FP}", n)
            .add(f"act_read:{FP}", n))


def goodness_backward(n: float) -> Counts:
    """``dL/dy = dL/dG * 2 y / n_group``: one multiply per element (the scalar premultiplied)."""
    return (Counts().add(f"mul:{FP}", n).add(f"act_read:{FP}", n)
            .add(f"grad_write:{FP}", n))


def softmax_ce(rows: float, classes: int, train: bool) -> Counts:
    """Softmax cross-entropy over ``classes`` logits for ``rows`` rows; in training its
    gradient ``p - y``."""
    c = (scalar_fn(rows * (classes + 1)).add(f"add:{FP}", rows * classes)
         .add(f"mul:{FP}", rows * classes).add(f"act_read:{FP}", rows * classes))
    if train:
        c.add(f"add:{FP}", rows * classes).add(f"grad_write:{FP}", rows * classes)
    return c


def ff_pair_loss(rows: float) -> Counts:
    """FF's symmetric loss ``softplus(-alpha (G_pos - G_neg))`` for ``rows`` pairs, and its
    gradient (a transcendental each way, a few adds and multiplies)."""
    return scalar_fn(2 * rows).merge(elementwise(rows, add=3, mul=3))


def stash(n: float, dtype: str = FP) -> Counts:
    """``n`` activations kept across the network for backprop's backward pass (at ``dtype``:
    a fixed-point layer keeps its quantized input)."""
    return Counts().add(f"stash_write:{dtype}", n)


def argmax(rows: float, classes: int) -> Counts:
    """Prediction: ``classes - 1`` compares per row."""
    return Counts().add(f"cmp:{FP}", rows * (classes - 1))


def sum_predictions(n: float) -> Counts:
    """Summing ``n`` scores of one more sampled test pass into the running sums."""
    return elementwise(n, add=1, writes=0)


# --- gradients and updates ------------------------------------------------------------------

def adam(params: float) -> Counts:
    """One Adam step over ``params`` parameters (moments read and written)."""
    c = Counts()
    for op, n in ADAM_OPS.items():
        c.add(f"{op}:{FP}", n * params)
    return (c.add(f"grad_read:{FP}", params).add(f"weight_read:{FP}", params)
            .add(f"weight_write:{FP}", params)
            .add(f"state_read:{FP}", 2 * params).add(f"state_write:{FP}", 2 * params))


def adamw(params: float) -> Counts:
    """One AdamW step: Adam's, plus the decoupled weight decay ``w *= 1 - lr * wd`` (a
    multiply per parameter, on the weight Adam reads and writes anyway)."""
    return adam(params).add(f"mul:{FP}", params)


def shift_update(params: float) -> Counts:
    """BGBSFF's update ``w -= 2^-k * g`` (a shift and one add per weight), no optimizer state."""
    return (Counts().add(f"add:{FP}", params).add(f"grad_read:{FP}", params)
            .add(f"weight_read:{FP}", params).add(f"weight_write:{FP}", params))


def fold_input_affine(weights: float) -> Counts:
    """Fold the previous batch norm (``a x + b`` per input channel) into a layer that reads tile
    counts, once per step: ``w * a`` per weight, and ``b`` folded into the bias
    (``sum_c b_c w_oc``: a multiply-add per weight)."""
    return (Counts().add(f"mul:{FP}", 2 * weights).add(f"add:{FP}", weights)
            .add(f"weight_read:{FP}", weights).add(f"weight_write:{FP}", weights))


def fold_input_affine_backward(weights: float, n_out: float) -> Counts:
    """The weight gradient through a folded input affine, once per step: ``a`` times the
    accumulated gradient per weight, plus ``b`` times the output gradient summed over the batch
    (an add per output element, a multiply-add per weight)."""
    return (Counts().add(f"add:{FP}", n_out + weights).add(f"mul:{FP}", 2 * weights)
            .add(f"grad_read:{FP}", n_out + weights).add(f"grad_write:{FP}", weights))


def row_scale(n: float, channels: float, with_bias: bool) -> Counts:
    """A per-sample factor (the previous layer norm, kept out of the integer counts) applied to
    ``n`` outputs of an index layer, then its bias."""
    c = elementwise(n, mul=1)
    return c.merge(bias(n, channels)) if with_bias else c


def row_scale_backward(n: float, channels: float, with_bias: bool) -> Counts:
    c = elementwise(n, mul=1)
    return c.merge(bias_grad(n, channels)) if with_bias else c


def _relabel_fp(counts: Mapping[str, float], relabel: Mapping[str, str]) -> Counts:
    """``counts`` with the fp32 entries of each op in ``relabel`` moved to its new dtype (the
    products' loop nests carried over)."""
    out = Counts()
    out.nests = list(getattr(counts, "nests", ()))
    for key, n in counts.items():
        op, _, dtype = key.partition(":")
        out.add(f"{op}:{relabel[op]}" if op in relabel and dtype == FP else key, n)
    return out


def quantized_accumulation(counts: Mapping[str, float], quant,
                           acc: str = "int32") -> Counts:
    """A weight-gradient product's counts on quantized errors (BGBSFF): the hardware reads each
    error word at its width (``u2``/``u1``) and accumulates and writes integer sums (``acc``:
    int32, or the fixed-point accumulator), where a float product (a kernel's counts, or their
    expectation) adds and writes fp32."""
    relabel = {"add": acc, "grad_write": acc, "grad_read": grad_dtype(quant)}
    return _relabel_fp(counts, relabel)


def dequantize(n: float) -> Counts:
    """``n`` integer sums scaled once by their channel's scale (BGBSFF's error scale, or a
    fixed-point product's weight, input and error scales folded into one factor)."""
    return Counts().add(f"mul:{FP}", n)


# --- fixed-point datapaths (pbitsim.precision) ----------------------------------------------

def at_precision(counts: Mapping[str, float], kind: str, prec, *,
                 int_errors: bool = False) -> Counts:
    """A product's counts (fp32 keys, as a kernel or :func:`product` gives them) on the
    fixed-point datapath ``prec`` (a :class:`pbitsim.precision.Precision`).

    The one rule for which words change width, used by the bridge and the estimator:

    * ``forward``: weights fetched at the weight width; adds at the accumulator width and the
      sums written at it; a real layer's multiplier and its input words at the weight width
      (its input is quantized to weight_bits; an index layer's input is already ``uN``);
    * ``weight_grad``: the kept input read at the weight width (a real layer's quantized copy);
      on integer errors (``--grad-bits``, or BGBSFF's ``int_errors``) adds and gradient writes at
      the accumulator width, and with ``--grad-bits`` error words read and multiplied at their
      width;
    * ``input_grad`` (backprop): weights fetched at the weight width; with ``--grad-bits`` the
      product is integer like the weight gradient's.

    Keys already at another width (``uN`` counts, BGBSFF's ``u2`` errors) and the fp32
    datapath (``prec.fixed`` false) pass unchanged.
    """
    if not prec.fixed:
        return Counts(counts)
    w, a, g = prec.weight_dtype, prec.acc_dtype, prec.grad_dtype
    grads = prec.grad_bits is not None
    if kind == "forward":
        relabel = {"add": a, "mul": w, "weight_read": w, "act_read": w, "act_write": a}
    elif kind == "weight_grad":
        relabel = {"act_read": w, "stash_read": w}
        if grads or int_errors:
            relabel.update(add=a, grad_write=a)
        if grads:
            relabel.update(mul=prec.grad_mul_dtype, grad_read=g)
    elif kind == "input_grad":
        relabel = {"weight_read": w}
        if grads:
            relabel.update(add=a, mul=prec.grad_mul_dtype, grad_read=g, grad_write=a)
    else:
        raise ValueError(f"unknown product {kind!r}; choose forward, weight_grad or input_grad")
    return _relabel_fp(counts, relabel)


def quantize_fixed(n: float, scales: float, dtype: str, stream: str) -> Counts:
    """``n`` fp32 values quantized to ``dtype`` words with ``scales`` scales (one per channel
    or per tensor; :mod:`pbitsim.precision`).

    Per value: ``|v|`` compared into its scale's maximum, a multiply by the scale's reciprocal,
    a rounding add (1/2, or a uniform for stochastic rounding) and two saturation compares; per
    scale a reciprocal (:data:`SCALAR_FN`) and a multiply (``max / qmax``). ``stream``
    (``weight``, ``act``, ``grad``): the values read at fp32 and written at ``dtype``.
    """
    return (Counts().add(f"cmp:{FP}", 3 * n).add(f"mul:{FP}", n + scales).add(f"add:{FP}", n)
            .merge(scalar_fn(scales))
            .add(f"{stream}_read:{FP}", n).add(f"{stream}_write:{dtype}", n))
