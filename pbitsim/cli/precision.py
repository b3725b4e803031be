"""The datapath options shared by ``pbitsim estimate`` and ``pbitsim train``
(:mod:`pbitsim.precision`): one definition of their names and help."""

from __future__ import annotations

import click

from ..config import DEFAULT_FIXED_ACC_BITS, MAX_BITS, MIN_BITS

__all__ = ["precision_options"]


def precision_options(train: bool):
    """Decorator adding ``--weight-bits``, ``--acc-bits`` and ``--grad-bits`` (ints; checked by
    :func:`pbitsim.precision.make_precision`, a bad value is one ``Error:`` line)."""
    grad_help = ("Fixed point: quantize the error reaching each layer to this many bits (per "
                 "output channel, stochastic rounding) before its weight gradient, which then "
                 "accumulates integers [default: fp32 gradients].")
    if train:
        grad_help += " Not with bgbsff (its errors are --grad-quant words)."

    def wrap(fn):
        opts = [
            click.option("--weight-bits", type=int, default=None,
                         help=f"Fixed-point datapath: weights as signed integers of this many "
                              f"bits ({MIN_BITS}..{MAX_BITS}), one scale per output channel, "
                              "rounded to nearest; real layers also quantize their input. "
                              "[default: fp32]"),
            click.option("--acc-bits", type=int, default=None,
                         help=f"Accumulator width with --weight-bits ({MIN_BITS}..{MAX_BITS}, "
                              "at least the weight width); sums saturate at every add "
                              f"[default: {DEFAULT_FIXED_ACC_BITS}]."),
            click.option("--grad-bits", type=int, default=None, help=grad_help),
        ]
        for opt in reversed(opts):
            fn = opt(fn)
        return fn
    return wrap
