"""Datapath precision: fp32 (the default) or fixed point with chosen weight, accumulator and
gradient widths (``--weight-bits``, ``--acc-bits``, ``--grad-bits``).

Pure Python (no numpy, numba or torch): ``pbitsim estimate`` imports it. The limits are in
:mod:`pbitsim.config`; the kernels are :mod:`pbitsim.kernels.fixed_point`; what each count
costs at a width is :func:`pbitsim.network.costs.at_precision`.

The fixed-point formats (one definition, used by the trainer and priced by the estimator):

* **weights**: ``weight_bits``-bit signed integers, symmetric, one scale per output channel
  (per output feature of a dense layer): ``scale = max|w| / (2^(bits-1) - 1)``,
  ``q = clamp(round(w / scale))`` rounded to nearest (ties up). The trainer keeps an fp32
  master copy and quantizes it in every forward pass (quantization-aware training, the
  straight-through gradient). An index layer quantizes its weights *after* the previous batch
  norm's scale is folded in (the hardware stores the folded integer weights); the folded shift
  stays an fp32 bias map added after the integer sum is rescaled.
* **accumulators**: ``acc_bits``-bit two's complement, saturating at every add (in a fixed
  order: see the kernels). Without ``--acc-bits`` a fixed-point datapath accumulates in
  :data:`pbitsim.config.DEFAULT_FIXED_ACC_BITS` bits.
* **gradients** (``grad_bits``, optional): the error reaching a layer's output is quantized
  to ``grad_bits``-bit integers, one scale per output channel, with seeded stochastic
  rounding (unbiased), before the weight-gradient product, which then accumulates integers.
  Without it the gradient path stays fp32.
* **real-valued layers** (the first layer of BSFF/BGBSFF, every layer of FF, CwC-FF and BP)
  also quantize their input activations to ``weight_bits`` bits, one scale per tensor,
  rounded to nearest: a ``weight_bits`` x ``weight_bits`` multiplier feeding the
  accumulator. They are simulated as fake quantization: integer-valued operands multiplied
  in float (exact below 2^24), the result saturated to the accumulator's range.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_FIXED_ACC_BITS, MAX_BITS, MIN_BITS

__all__ = ["Precision", "FP32", "make_precision", "ROUNDINGS", "SCALE_RULES",
           "WEIGHT_ROUNDING", "GRAD_ROUNDING", "ACT_ROUNDING", "WEIGHT_SCALE", "GRAD_SCALE",
           "ACT_SCALE", "OPTIONS", "parse_label"]

#: Rounding of a quantizer: to nearest (ties up) or stochastic (seeded, unbiased).
ROUNDINGS = ("nearest", "stochastic")
#: Scale rule of a quantizer: one scale per output channel, or one per layer (tensor).
SCALE_RULES = ("channel", "layer")
WEIGHT_ROUNDING, WEIGHT_SCALE = "nearest", "channel"
GRAD_ROUNDING, GRAD_SCALE = "stochastic", "channel"
ACT_ROUNDING, ACT_SCALE = "nearest", "layer"
#: Option names, as the commands spell them.
OPTIONS = {"weight_bits": "--weight-bits", "acc_bits": "--acc-bits",
           "grad_bits": "--grad-bits"}

FP = "fp32"


@dataclass(frozen=True)
class Precision:
    """The datapath's widths: all None is fp32 (today's simulator, bit for bit).

    Build checked values with :func:`make_precision`.
    """

    weight_bits: int | None = None
    acc_bits: int | None = None
    grad_bits: int | None = None

    @property
    def fixed(self) -> bool:
        """True for a fixed-point datapath (``weight_bits`` given)."""
        return self.weight_bits is not None

    @property
    def weight_dtype(self) -> str:
        return FP if self.weight_bits is None else f"int{self.weight_bits}"

    @property
    def acc_dtype(self) -> str:
        return FP if self.acc_bits is None else f"int{self.acc_bits}"

    @property
    def grad_dtype(self) -> str:
        return FP if self.grad_bits is None else f"int{self.grad_bits}"

    @property
    def int_acc_dtype(self) -> str:
        """Where integer sums accumulate (BGBSFF's quantized errors): the accumulator, or
        int32 on the fp32 datapath."""
        return "int32" if self.acc_bits is None else self.acc_dtype

    @property
    def grad_mul_dtype(self) -> str:
        """A multiplier of a weight (or quantized activation) by a quantized gradient word."""
        return f"int{max(self.weight_bits or 0, self.grad_bits or 0)}"

    def describe(self) -> str:
        """The datapath in words (estimate assumptions)."""
        if not self.fixed:
            return "fp32"
        g = (f"int{self.grad_bits} errors" if self.grad_bits is not None
             else "fp32 gradients")
        return (f"int{self.weight_bits} weights (real layers' inputs too), "
                f"int{self.acc_bits} saturating accumulators, {g}")

    def label(self) -> str:
        """Short name: ``fp32``, ``w8a32``, ``w8a32g8``."""
        if not self.fixed:
            return FP
        g = f"g{self.grad_bits}" if self.grad_bits is not None else ""
        return f"w{self.weight_bits}a{self.acc_bits}{g}"


FP32 = Precision()


def _bits(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{OPTIONS[name]} must be an integer, got {value!r}")
    v = int(value.__index__())
    if not MIN_BITS <= v <= MAX_BITS:
        raise ValueError(f"{OPTIONS[name]} must be in {MIN_BITS}..{MAX_BITS} bits, got {v}")
    return v


def make_precision(weight_bits=None, acc_bits=None, grad_bits=None) -> Precision:
    """A checked :class:`Precision`; ``ValueError`` with one line naming the option.

    ``acc_bits`` and ``grad_bits`` need ``weight_bits`` (a fixed-point datapath); the
    accumulator defaults to :data:`pbitsim.config.DEFAULT_FIXED_ACC_BITS` bits and must be at
    least as wide as a weight and a gradient word.
    """
    w, a, g = (_bits(n, v) for n, v in (("weight_bits", weight_bits), ("acc_bits", acc_bits),
                                        ("grad_bits", grad_bits)))
    if w is None:
        for name, v in (("acc_bits", a), ("grad_bits", g)):
            if v is not None:
                raise ValueError(f"{OPTIONS[name]} needs --weight-bits (a fixed-point datapath)")
        return FP32
    if a is None:
        a = max(DEFAULT_FIXED_ACC_BITS, w, g or 0)
    for name, v in (("weight_bits", w), ("grad_bits", g)):
        if v is not None and a < v:
            raise ValueError(f"--acc-bits {a} is narrower than {OPTIONS[name]} {v}: an "
                             "accumulator must hold one word")
    return Precision(w, a, g)


def parse_label(label: str) -> Precision:
    """The :class:`Precision` of a short name (:meth:`Precision.label`): ``fp32``, ``w8``
    (the default accumulator), ``w8a16``, ``w8a16g8``; checked as :func:`make_precision` checks.
    For a sweep axis over datapaths."""
    import re
    text = str(label).strip().lower()
    if text == FP:
        return FP32
    m = re.fullmatch(r"w(\d+)(?:a(\d+))?(?:g(\d+))?", text)
    if m is None:
        raise ValueError(f"unknown datapath {label!r}: give fp32 or wW[aA][gG], e.g. w8a16g8")
    w, a, g = (int(v) if v is not None else None for v in m.groups())
    return make_precision(w, a, g)
