"""Counts of the real-valued (torch) work the bridge runs itself, in the shared vocabulary.

The Numba kernels count their own work; these helpers count what torch computes around them
(first-layer convolutions, batch norm, pooling, goodness, losses, optimizer updates) so that a
training step's counts describe the whole step. Conventions, chosen to match the kernels:

* a multiply-accumulate is one ``mul`` and one ``add``, and fetches one weight word
  (``weight_read`` per MAC, no reuse assumed, as ``index_matmul`` counts ``N * nnz(x)``);
* each tensor a layer reads or writes is counted once per element (``act_read``/``act_write``);
* a transcendental (exp, sqrt) or a division counts as one ``mul``;
* every helper is a no-op when ``counter`` is None, so uncounted runs pay nothing.
"""

from __future__ import annotations

from ..counters import OpCounter

__all__ = [
    "conv_macs", "count_macs", "count_conv", "count_dense", "count_elementwise", "count_bn",
    "count_bn_backward", "count_pool", "count_goodness", "count_softmax_ce", "count_adam",
    "count_dmean",
]


def conv_macs(x_shape, w_shape, out_shape, groups: int = 1) -> int:
    """Multiply-accumulates of a conv: ``B * O * H' * W' * (C / groups) * kh * kw``."""
    b = x_shape[0]
    o, cg, kh, kw = w_shape
    return int(b) * int(o) * int(out_shape[2]) * int(out_shape[3]) * int(cg) * int(kh) * int(kw)


def count_macs(counter: OpCounter | None, macs: int, dtype: str = "fp32") -> None:
    """``macs`` multiply-accumulates at ``dtype``, each fetching one weight word."""
    if counter is None or macs == 0:
        return
    counter.add("mul", macs, dtype)
    counter.add("add", macs, dtype)
    counter.add("weight_read", macs, dtype)


def count_conv(counter, x_shape, w_shape, out_shape, groups: int = 1) -> None:
    """A real-valued convolution (forward, or a transposed/weight-gradient product of the same size)."""
    if counter is None:
        return
    count_macs(counter, conv_macs(x_shape, w_shape, out_shape, groups))
    counter.add("act_read", _numel(x_shape), "fp32")
    counter.add("act_write", _numel(out_shape), "fp32")


def count_dense(counter, batch: int, k: int, n: int) -> None:
    """A real-valued dense product ``[B, K] @ [K, N]``."""
    if counter is None:
        return
    count_macs(counter, int(batch) * int(k) * int(n))
    counter.add("act_read", int(batch) * int(k), "fp32")
    counter.add("act_write", int(batch) * int(n), "fp32")


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
