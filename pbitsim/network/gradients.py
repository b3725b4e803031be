"""The gradient variants a user picks by name, as objects that own their counts.

* an :class:`Estimator` is the backward of the tiled p-bit units (``--estimator``);
* a :class:`Quantizer` is BGBSFF's quantization of a layer's local error (``--grad-quant``).

Each is named by the string the command line and the run files use (``"mean-field"``,
``"ternary"``, ...); :func:`estimator` and :func:`quantizer` parse a name (or pass an object
through) once, where a choice enters the code, and ``str()`` gives the name back, so run files and
descriptions keep writing the same strings. This module holds their counts (pure Python: ``pbitsim
estimate`` imports it); their torch backwards subclass them in :mod:`pbitsim.bridge.estimators`,
as surrogate gradients are objects handed to a neuron in snntorch.
"""

from __future__ import annotations

from . import costs
from .costs import FP, Counts

__all__ = ["Estimator", "MeanField", "StraightThrough", "Quantizer", "SignQuantizer",
           "TernaryQuantizer", "ESTIMATORS", "QUANTIZERS", "estimator", "quantizer"]


class _Named:
    """A variant known by its name: equal to another of its kind with the same name, written
    as the name, pickled as the name (a sweep's worker gets the same object back).

    Comparing one with a string raises TypeError: code written for the names
    (``params.estimator == "mean-field"``) would otherwise be silently False."""

    name: str = ""
    _kind = "variant"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            raise TypeError(f"a {self._kind} is an object: compare it with one "
                            f"(pbitsim.network.gradients.{self._kind}({other!r})), not with "
                            "its name")
        return isinstance(other, _Named) and other._kind == self._kind and other.name == self.name

    def __hash__(self) -> int:
        return hash((self._kind, self.name))


# --- estimators: the backward of the tiled units ------------------------------------------

class Estimator(_Named):
    """The backward of M tiled logistic units whose forward is the sampled count
    ``s = sum_i [u_i < sigmoid(z - o_i)]`` (the choice and its reasons:
    :mod:`pbitsim.bridge.estimators`)."""

    _kind = "estimator"
    #: Whether the backward is the mean-field slope ``sum_i sigmoid'(z - o_i)``, which the ideal
    #: sampler can hand over from its own pass (and a batch norm in front can be fused with).
    uses_slope = False

    def backward_counts(self, n: float, tiles: int) -> Counts:
        """What the backward through ``n`` units of ``tiles`` p-bits costs."""
        raise NotImplementedError

    def __reduce__(self):
        return estimator, (self.name,)


class MeanField(Estimator):
    """``ds/dz := d E[s]/dz = sum_i sigmoid'(z - o_i)``: :func:`pbitsim.network.costs.tiled_backward`."""

    name = "mean-field"
    uses_slope = True

    def backward_counts(self, n: float, tiles: int) -> Counts:
        return costs.tiled_backward(n, tiles)


class StraightThrough(Estimator):
    """``ds/dz := 1`` inside the unit's range: :func:`pbitsim.network.costs.straight_through_backward`."""

    name = "straight-through"

    def backward_counts(self, n: float, tiles: int) -> Counts:
        return costs.straight_through_backward(n)


# --- quantizers: BGBSFF's integer errors ---------------------------------------------------

class Quantizer(_Named):
    """BGBSFF: a layer's local error replaced by a few integer levels times one scale per output
    channel (what each level set buys: :mod:`pbitsim.bridge.estimators`)."""

    _kind = "quantizer"
    #: The width of one quantized error word.
    dtype: str = ""
    #: Whether quantizing draws random numbers (stochastic rounding, seeded per call).
    stochastic = False

    def counts(self, n: float) -> Counts:
        """``n`` fp32 errors read, quantized and written back as :attr:`dtype` words."""
        return (self._work(n).add(f"grad_read:{FP}", n)
                .add(f"grad_write:{self.dtype}", n))

    def _work(self, n: float) -> Counts:
        raise NotImplementedError

    def __reduce__(self):
        return quantizer, (self.name,)


class SignQuantizer(Quantizer):
    """``sign(g)``, scale ``mean|g|``: a compare each and an add each (the mean), one bit out."""

    name = "sign"
    dtype = "u1"

    def _work(self, n: float) -> Counts:
        return Counts().add(f"add:{FP}", n).add(f"cmp:{FP}", n)


class TernaryQuantizer(Quantizer):
    """Stochastic rounding of ``g / max|g|`` to {-1, 0, +1}, scale ``max|g|``: ``max|g|`` (a
    compare each), ``|g| / max`` (a multiply) and a compare with a uniform, two bits out."""

    name = "ternary"
    dtype = "u2"
    stochastic = True

    def _work(self, n: float) -> Counts:
        return Counts().add(f"cmp:{FP}", 2 * n).add(f"mul:{FP}", n)


#: The estimators and quantizers by name (the command line's choices, in its order).
ESTIMATORS: dict[str, Estimator] = {e.name: e for e in (MeanField(), StraightThrough())}
QUANTIZERS: dict[str, Quantizer] = {q.name: q for q in (TernaryQuantizer(), SignQuantizer())}


def _parse(value, table: dict, base: type, what: str):
    if isinstance(value, base):
        return value
    if isinstance(value, str) and value in table:
        return table[value]
    raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(table)}")


def estimator(value: str | Estimator) -> Estimator:
    """The :class:`Estimator` named ``value`` (an estimator passes through); ValueError if none."""
    return _parse(value, ESTIMATORS, Estimator, "estimator")


def quantizer(value: str | Quantizer | None) -> Quantizer | None:
    """The :class:`Quantizer` named ``value`` (a quantizer passes through, None stays None: no
    quantization); ValueError if none."""
    return None if value is None else _parse(value, QUANTIZERS, Quantizer, "gradient quantizer")
