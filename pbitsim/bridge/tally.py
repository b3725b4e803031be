"""Counts of the real-valued (torch) work the bridge runs itself, in the shared vocabulary.

The Numba kernels count their own work; these helpers count what torch computes around them
(first-layer convolutions, batch norm, pooling, goodness, losses, optimizer updates) so that a
training step's counts describe the whole step. Conventions, chosen to match the kernels:

* a multiply-accumulate is one ``mul`` and one ``add``, and fetches one weight word
  (``weight_read`` per MAC, no reuse assumed, as ``index_matmul`` counts ``N * nnz(x)``); a
  weight-gradient product reads the output gradient per MAC instead (``grad_read``);
* convolutions count only the taps that land inside the image, not the zero padding;
* each tensor a layer reads or writes is counted once per element (``act_read``/``act_write``);
* a transcendental (exp, sqrt) or a division counts as one ``mul``;
* every helper is a no-op when ``counter`` is None, so uncounted runs pay nothing.
"""

from __future__ import annotations

import functools

from ..counters import OpCounter

__all__ = [
    "PRODUCTS", "conv_macs", "count_product", "grad_dtype", "count_conv", "count_dense",
    "count_quantize", "count_elementwise", "count_bn",
    "count_bn_backward", "count_pool", "count_goodness", "count_softmax_ce", "count_adam",
    "count_dmean",
]


@functools.lru_cache(maxsize=256)
def _taps_1d(size: int, out: int, k: int, stride: int, padding: int) -> int:
    """Kernel taps that land inside an input of ``size`` (not on padding), summed over outputs."""
    return sum(1 for o in range(out) for t in range(k) if 0 <= o * stride - padding + t < size)


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_macs(x_shape, w_shape, out_shape, groups: int = 1, stride=1, padding=0) -> int:
    """Multiply-accumulates of a conv, taps on the zero padding skipped (as the index kernels do):
    ``B * O * (C / groups) * taps_h * taps_w`` with ``taps`` the in-image (output, tap) pairs.

    ``stride``/``padding``: an int or an (h, w) pair.
    """
    o, cg, kh, kw = (int(v) for v in w_shape)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    th = _taps_1d(int(x_shape[2]), int(out_shape[2]), kh, sh, ph)
    tw = _taps_1d(int(x_shape[3]), int(out_shape[3]), kw, sw, pw)
    return int(x_shape[0]) * o * cg * th * tw


PRODUCTS = ("forward", "weight_grad", "input_grad")


def count_product(counter: OpCounter | None, macs: int, kind: str, n_in: int, n_out: int,
                  quant: str | None = None) -> None:
    """A real-valued product of ``macs`` multiply-accumulates with input ``n_in`` and output
    ``n_out`` elements (the forward's), as the energy model counts it:

    * ``forward``: a ``mul`` and an ``add`` per MAC, a weight fetched per MAC, the input read
      and the output written once;
    * ``weight_grad`` (``dW = x^T g``): the output gradient read per MAC instead of a weight,
      the input read once (the caller counts the weight-gradient write); with a quantized
      ``g`` (``quant``: ``'ternary'`` or ``'sign'``) only adds, and the gradient words are read
      at their width (``u2`` / ``u1``);
    * ``input_grad`` (``g W^T``): weights fetched per MAC, ``g`` read, the input gradient written.
    """
    if counter is None or macs == 0:
        return
    if kind not in PRODUCTS:
        raise ValueError(f"unknown product {kind!r}; choose one of {', '.join(PRODUCTS)}")
    counter.add("add", macs, "fp32")
    if quant is None:
        counter.add("mul", macs, "fp32")
    if kind == "forward":
        counter.add("weight_read", macs, "fp32")
        counter.add("act_read", n_in, "fp32")
        counter.add("act_write", n_out, "fp32")
    elif kind == "weight_grad":
        counter.add("grad_read", macs, grad_dtype(quant))
        counter.add("act_read", n_in, "fp32")
    else:
        counter.add("weight_read", macs, "fp32")
        counter.add("grad_read", n_out, "fp32")
        counter.add("grad_write", n_in, "fp32")


def grad_dtype(quant: str | None) -> str:
    """Width of a gradient word: fp32, or a quantized BGBSFF gradient (ternary ``u2``, sign ``u1``)."""
    return {None: "fp32", "ternary": "u2", "sign": "u1"}[quant]


def count_conv(counter, x_shape, w_shape, out_shape, groups: int = 1, stride=1, padding=0,
               kind: str = "forward", quant: str | None = None) -> None:
    """A real-valued convolution ``x_shape -> out_shape`` or, by ``kind``, its weight or input
    gradient (always pass the forward's shapes); see :func:`count_product`."""
    if counter is None:
        return
    count_product(counter, conv_macs(x_shape, w_shape, out_shape, groups, stride, padding), kind,
                  _numel(x_shape), _numel(out_shape), quant)


def count_dense(counter, batch: int, k: int, n: int, kind: str = "forward") -> None:
    """A real-valued dense product ``[B, K] @ [K, N]`` or, by ``kind``, its weight or input
    gradient; see :func:`count_product`."""
    if counter is None:
        return
    b, k, n = int(batch), int(k), int(n)
    count_product(counter, b * k * n, kind, b * k, b * n)


def count_quantize(counter, n: int, how: str) -> None:
    """BGBSFF: ``n`` fp32 gradient values read and written back as quantized words.

    ``sign``: a compare each and ``mean|g|`` (an add each), one bit out; ``ternary``: ``max|g|``
    (a compare each), ``|g| / max`` (a multiply) and a compare with a uniform, two bits out.
    """
    if counter is None or n == 0:
        return
    n = int(n)
    if how == "sign":
        counter.add("add", n, "fp32")
        counter.add("cmp", n, "fp32")
    else:
        counter.add("cmp", 2 * n, "fp32")
        counter.add("mul", n, "fp32")
    counter.add("grad_read", n, "fp32")
    counter.add("grad_write", n, grad_dtype(how))


def count_elementwise(counter, n: int, *, add: int = 0, mul: int = 0, cmp: int = 0,
                      reads: int = 1, writes: int = 1) -> None:
    """``n`` elements, each costing ``add``/``mul``/``cmp`` fp32 ops and ``reads``/``writes`` words."""
    if counter is None or n == 0:
        return
    counter.add("add", n * add, "fp32")
    counter.add("mul", n * mul, "fp32")
    counter.add("cmp", n * cmp, "fp32")
    counter.add("act_read", n * reads, "fp32")
    counter.add("act_write", n * writes, "fp32")


def count_bn(counter, shape) -> None:
    """Batch norm forward: statistics (mean, variance) and the per-element affine normalisation."""
    if counter is None:
        return
    n = _numel(shape)
    # mean: 1 add; variance: 1 add + 1 mul (centred square); normalise+affine: 2 add + 2 mul
    count_elementwise(counter, n, add=4, mul=3, reads=2, writes=1)
    counter.add("weight_read", 2 * int(shape[1]), "fp32")


def count_bn_backward(counter, shape) -> None:
    """Gradient through batch norm to its input and to gamma/beta (local loss of one block)."""
    if counter is None:
        return
    n = _numel(shape)
    count_elementwise(counter, n, add=4, mul=4, reads=2, writes=1)
    counter.add("grad_write", 2 * int(shape[1]), "fp32")


def count_pool(counter, out_shape, window: int = 4, dtype: str = "fp32") -> None:
    """2x2 max pooling: ``window - 1`` comparisons per output element (at the activation width)."""
    if counter is None:
        return
    n = _numel(out_shape)
    counter.add("cmp", n * (window - 1), dtype)
    counter.add("act_read", n * window, dtype)
    counter.add("act_write", n, dtype)


def count_goodness(counter, shape) -> None:
    """Class goodness: square and sum every element of the block output (forward and its gradient)."""
    if counter is None:
        return
    n = _numel(shape)
    count_elementwise(counter, n, add=1, mul=2, reads=1, writes=0)


def count_softmax_ce(counter, batch: int, classes: int) -> None:
    """Softmax cross-entropy over ``classes`` logits, forward and gradient."""
    if counter is None:
        return
    n = int(batch) * int(classes)
    count_elementwise(counter, n, add=3, mul=2, reads=1, writes=1)


def count_dmean(counter, n: int, tiles: int) -> None:
    """Mean-field backward of a tiled unit: ``tiles`` sigmoid derivatives and their sum per unit."""
    if counter is None:
        return
    # per tile: exp (mul), 1 + e (add), reciprocal (mul), s(1-s) (add + mul), accumulate (add)
    count_elementwise(counter, n, add=3 * tiles, mul=3 * tiles + 1, reads=2, writes=1)


def count_adam(counter, params: int) -> None:
    """One Adam step over ``params`` parameters (two moment reads/writes per parameter)."""
    if counter is None or params == 0:
        return
    p = int(params)
    # m = b1 m + (1-b1) g: 2 mul 1 add; v = b2 v + (1-b2) g^2: 3 mul 1 add;
    # w -= lr * m / (sqrt(v) + eps): sqrt, divide, scale (3 mul), + eps and subtract (2 add)
    counter.add("mul", 8 * p, "fp32")
    counter.add("add", 4 * p, "fp32")
    counter.add("grad_read", p, "fp32")
    counter.add("state_read", 2 * p, "fp32")
    counter.add("state_write", 2 * p, "fp32")
    counter.add("weight_read", p, "fp32")
    counter.add("weight_write", p, "fp32")


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
