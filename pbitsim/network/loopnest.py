"""A product of a training step as a loop nest: the shape a hardware model maps.

Every product a step runs -- a layer's forward, its input gradient, its weight gradient, real or
index-and-accumulate -- is one loop nest over the same seven dimensions (ZigZag's and
Timeloop's convention, with groups as a loop all operands share):

=====  ==========================================
``N``  samples of the batch
``G``  channel groups (a grouped conv; 1 otherwise)
``K``  output channels per group (dense: outputs)
``C``  input channels per group (dense: inputs)
``P``  output rows, ``Q`` output columns
``R``  kernel rows, ``S`` kernel columns
=====  ==========================================

over three tensors: ``W`` (weights: G K C R S), ``I`` (the layer's input: N G C and the
window of P/R, Q/S) and ``O`` (its output: N G K P Q). The phases differ only in which tensor
accumulates and which tensor class each one is: the forward writes ``O``, the weight gradient
``dW = x^T g`` accumulates a ``W``-shaped tensor from ``I`` and an ``O``-shaped error, the input
gradient accumulates an ``I``-shaped tensor from ``W`` and the error.

A :class:`Nest` travels with the counts of its product (:attr:`pbitsim.network.costs.Counts.nests`),
through every merge and scaling of a rule's walk, so a hardware model sees each product of the
step with its multiplicity, while the flat counts stay what they are. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from .archs import Conv2d

__all__ = ["Nest", "DIMS", "RELEVANT", "ROLES"]

DIMS = ("N", "G", "K", "C", "P", "Q", "R", "S")
#: The dimensions each operand's elements depend on (``I`` through the sliding window).
RELEVANT = {"W": frozenset("GKCRS"), "I": frozenset("NGCPQRS"), "O": frozenset("NGKPQ")}
#: Per phase: which operand accumulates, and each operand's tensor class
#: (:data:`pbitsim.hardware.spec.TENSOR_CLASSES`).
ROLES = {
    "forward": ("O", {"W": "weight", "I": "act", "O": "act"}),
    "weight_grad": ("W", {"W": "grad", "I": "kept", "O": "grad"}),
    "input_grad": ("I", {"W": "weight", "I": "grad", "O": "grad"}),
}
# The count-key stream of each operand's words in a product's flat counts, per phase.
_STREAMS = {
    "forward": {"W": ("weight_read",), "I": ("act_read",), "O": ("act_write",)},
    "weight_grad": {"W": ("grad_write",), "I": ("act_read", "stash_read"), "O": ("grad_read",)},
    "input_grad": {"W": ("weight_read",), "I": ("grad_write",), "O": ("grad_read",)},
}


def _bits(dtype: str) -> int:
    digits = "".join(ch for ch in dtype if ch.isdigit())
    return int(digits) if digits else 32


@dataclass(frozen=True)
class Nest:
    """One product: its loop bounds, phase, operand widths and input statistics.

    ``macs``: the multiply-accumulates (or index taps) the product really does -- fewer than
    the loop bounds' product when a padded convolution's border taps fall outside the image.
    ``index``: an index-and-accumulate product (its ``I`` is tile counts), with ``nonzero`` the
    fraction of nonzero inputs (a zero skips the weight fetch and the add) and ``mean_count``
    the adds per tap. ``flat``: the product's own counts (sorted items), as the flat model
    prices them.
    """

    layer: str
    phase: str
    N: int
    G: int
    K: int
    C: int
    P: int
    Q: int
    R: int
    S: int
    stride: int
    macs: float
    bits: tuple[tuple[str, int], ...]
    index: bool = False
    nonzero: float = 1.0
    mean_count: float = 1.0
    flat: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, layer, batch: int, phase: str, flat, stats=None) -> "Nest":
        """The nest of ``layer`` (a :class:`~pbitsim.network.archs.Conv2d` or a dense layer) over
        ``batch`` samples in ``phase``; ``flat`` its product's counts (for the operand widths
        and the flat price); ``stats`` the :class:`~pbitsim.network.tiles.TileStats` of an
        index product's input."""
        if phase not in ROLES:
            raise ValueError(f"unknown phase {phase!r}")
        g = max(1, layer.groups)
        if isinstance(layer, Conv2d):
            c, k = layer.in_shape[0] // g, layer.out_shape[0] // g
            p, q = layer.out_shape[1], layer.out_shape[2]
            r = s = layer.kernel
        else:
            c, k, p, q, r, s = layer.n_in, layer.n_out, 1, 1, 1, 1
        flat = dict(flat)
        bits = []
        for role, streams in _STREAMS[phase].items():
            keys = [key for key in flat if key.split(":")[0] in streams]
            bits.append((role, _bits(keys[0].split(":")[1]) if keys else 32))
        return cls(layer=layer.name, phase=phase, N=batch, G=g, K=k, C=c, P=p, Q=q, R=r, S=s,
                   stride=layer.stride, macs=float(batch * layer.taps), bits=tuple(bits),
                   index=stats is not None,
                   nonzero=1.0 if stats is None else float(stats.nonzero),
                   mean_count=1.0 if stats is None else float(stats.mean_count),
                   flat=tuple(sorted(flat.items())))

    @property
    def bounds(self) -> dict[str, int]:
        return {d: getattr(self, d) for d in DIMS}

    @property
    def full_macs(self) -> int:
        n = 1
        for d in DIMS:
            n *= getattr(self, d)
        return n

    @property
    def accumulates(self) -> str:
        return ROLES[self.phase][0]

    def tensor_class(self, role: str) -> str:
        return ROLES[self.phase][1][role]

    def width(self, role: str) -> int:
        return dict(self.bits)[role]

    def key(self) -> tuple:
        """What a mapping depends on (not the layer's name or the flat counts)."""
        return (self.phase, self.N, self.G, self.K, self.C, self.P, self.Q, self.R, self.S,
                self.stride, self.macs, self.bits, self.index, self.nonzero)

    def footprint(self, role: str, ext: dict[str, int]) -> int:
        """Elements of operand ``role`` that loop extents ``ext`` (dimension -> iterations)
        cover: ``I`` through the sliding window, ``(p - 1) * stride + r`` rows."""
        if role == "W":
            return ext["G"] * ext["K"] * ext["C"] * ext["R"] * ext["S"]
        if role == "O":
            return ext["N"] * ext["G"] * ext["K"] * ext["P"] * ext["Q"]
        h = (ext["P"] - 1) * self.stride + ext["R"]
        w = (ext["Q"] - 1) * self.stride + ext["S"]
        return ext["N"] * ext["G"] * ext["C"] * h * w

    def size(self, role: str) -> int:
        """Elements of one operand."""
        return self.footprint(role, self.bounds)
