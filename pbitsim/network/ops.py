"""Expected counts of the work the Numba kernels count themselves, per sample.

Everything else a step does is counted by :mod:`pbitsim.network.costs`, the same functions the torch
bridge calls. The kernels' conventions (a test holds these to them exactly):

* index-and-accumulate adds a weight row x times for an input count x: ``add:fp32`` =
  taps * E[x], ``weight_read:fp32`` = taps * P(x > 0), no multiplies; each input count is read
  once (``act_read:uN``) and each output written once;
* the transposed product (weight gradient) reads the output gradient once per nonzero input
  tap and writes each weight's gradient once per call (per step: divided by the batch here);
* a tiled unit draws M p-bit samples, reads its pre-activation and writes its count.
"""

from __future__ import annotations

from .costs import FP, Counts
from .counters import uint_dtype
from .archs import Layer
from .tiles import TileStats

__all__ = ["FP", "index_product", "index_weight_grad_product", "tiled"]


def index_product(layer: Layer, stats: TileStats) -> Counts:
    """The index-and-accumulate product, as ``index_matmul``/``index_conv2d`` count it."""
    return (Counts()
            .add(f"add:{FP}", layer.taps * stats.mean_count)
            .add(f"weight_read:{FP}", layer.taps * stats.nonzero)
            .add(f"act_read:{uint_dtype(stats.tiles)}", layer.n_in)
            .add(f"act_write:{FP}", layer.n_out))


def index_weight_grad_product(layer: Layer, stats: TileStats, batch: int) -> Counts:
    """The transposed index product, as ``index_matmul_xt``/``index_conv2d_weight_grad`` count
    it, per sample (the weight gradient is written once per call of ``batch`` samples)."""
    return (Counts()
            .add(f"add:{FP}", layer.taps * stats.mean_count)
            .add(f"grad_read:{FP}", layer.taps * stats.nonzero)
            .add(f"act_read:{uint_dtype(stats.tiles)}", layer.n_in)
            .add(f"grad_write:{FP}", layer.weights / batch))


def tiled(n: int, tiles: int) -> Counts:
    """``n`` tiled logistic units (``tiled_logistic``): M p-bit samples per unit.

    The tile offsets are the p-bits' bias inputs and the M bits are summed inside the unit, so
    both are part of the p-bit sample.
    """
    return (Counts().add("pbit_sample", tiles * n).add(f"act_read:{FP}", n)
            .add(f"act_write:{uint_dtype(tiles)}", n))
