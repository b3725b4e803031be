"""Hardware as data: what a training step runs on (memory levels, a compute array, p-bits).

A :class:`Hardware` is read from TOML (:mod:`pbitsim.hardware.library`: built-in names and
user files) and priced by :mod:`pbitsim.hardware.model`. Two kinds:

* ``model = "flat"``: today's pricing, one energy table's ``[levels]`` (every count stream at
  one memory, no reuse information, no capacities); energy only.
* ``model = "hierarchy"``: memory levels with capacities, a processing-element array and a
  p-bit array; every product of a step is a loop nest mapped onto it
  (:mod:`pbitsim.hardware.mapping`), every tensor placed where it fits
  (:mod:`pbitsim.hardware.placement`); energy by level, latency and area.

Units are in the names (``capacity_bytes``, ``read_pj``, ``area_um2``, ``clock_hz``). Every
figure carries its ``source`` or says it is an assumption, as the energy tables do. This
module is pure Python (``pbitsim estimate`` imports it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import DEFAULT_DEVICE
from .tables import DEFAULT_TABLE

__all__ = ["Hardware", "Level", "ComputeArray", "PbitArray", "TENSOR_CLASSES", "LEVEL_KINDS",
           "MODELS", "ZERO_HANDLING", "OBJECTIVES", "ELEMENTWISE"]

#: What a level may hold. ``weight``: weights (and biases, norm affines); ``act``: activations
#: (a layer's input and output, tile counts); ``grad``: gradients (of activations and of
#: weights); ``state``: optimizer state (Adam's moments); ``kept``: what a step keeps for a
#: backward pass (a layer's input, ReLU masks, pool indices; backprop's stash across the net).
TENSOR_CLASSES = ("weight", "act", "grad", "state", "kept")
LEVEL_KINDS = ("register", "sram", "dram")
MODELS = ("flat", "hierarchy")
#: Zero inputs of an index-and-accumulate product (Sparseloop's distinction): ``skip`` saves
#: the weight fetch, the add and the cycle; ``gate`` saves the energy but spends the cycle.
ZERO_HANDLING = ("skip", "gate")
#: What the mapping search minimises.
OBJECTIVES = ("energy", "latency", "edp")
#: Where element-wise passes over activations and their gradients (norms, ReLU, pooling,
#: p-bit sampling) move their words: ``fused`` -- streamed in tiles through the innermost
#: shared level that may hold the tensor, as an accelerator fuses them with the product that
#: makes or reads the tensor (whose own traffic to the tensor's home is the product's);
#: ``home`` -- every pass reads and writes the tensor where it lives (no fusion: an upper
#: bound). Weights, optimizer state and backprop's stash are always read and written at home.
ELEMENTWISE = ("fused", "home")


@dataclass(frozen=True)
class Level:
    """One memory level, innermost first in :attr:`Hardware.levels`.

    Parameters
    ----------
    name : str
        Its name in reports (``rf``, ``glb``, ``dram``).
    kind : {"register", "sram", "dram"}
    capacity_bytes : float
        Capacity of one instance (``math.inf`` for DRAM).
    per_pe : bool
        One instance per processing element (a register file), else one shared instance.
    read_pj, write_pj : float
        Energy of one access of ``access_bits`` bits (a word of b bits costs
        ``b / access_bits`` of it, as the tables price memory words).
    access_bits : int
    bandwidth_bits_per_cycle : float
        Per instance (``math.inf``: never the bottleneck).
    holds : tuple of str
        The tensor classes (:data:`TENSOR_CLASSES`) it may hold.
    area_um2 : float
        Area of one instance.
    source : str
        Where the figures come from, or ``assumption: ...``.
    derived : tuple of str
        The figures (``read_pj``, ``write_pj``, ``area_um2``) the description omitted and
        :mod:`pbitsim.hardware.library` derived from the energy table (provenance, not a
        figure: not compared).
    """

    name: str
    kind: str
    capacity_bytes: float
    read_pj: float
    write_pj: float
    access_bits: int = 64
    per_pe: bool = False
    bandwidth_bits_per_cycle: float = math.inf
    holds: tuple[str, ...] = TENSOR_CLASSES
    area_um2: float = 0.0
    source: str = ""
    derived: tuple[str, ...] = field(default=(), compare=False)

    def access_pj(self, bits: float, write: bool = False) -> float:
        """Energy of moving one word of ``bits`` bits in or out of this level."""
        return (self.write_pj if write else self.read_pj) * bits / self.access_bits

    def may_hold(self, tensor_class: str) -> bool:
        return tensor_class in self.holds


@dataclass(frozen=True)
class ComputeArray:
    """The processing elements: ``rows x cols`` PEs, each ``macs_per_cycle`` multiply-
    accumulates (or index adds) per cycle; ``noc_pj`` per word of ``noc_bits`` bits delivered
    to or collected from a PE across the array (Eyeriss's "array" level; a word of b bits costs
    b / noc_bits of it); ``pe_area_um2`` per PE (its datapath, not its register file, which is
    a level); ``datapath`` the arithmetic a PE is built for (``fp32``, ``int16`` ...: an omitted
    ``pe_area_um2`` is derived from the table's adder and multiplier of that width);
    ``derived`` names the figures derived so (provenance, not compared)."""

    rows: int = 1
    cols: int = 1
    macs_per_cycle: int = 1
    noc_pj: float = 0.0
    zero_inputs: str = "skip"
    pe_area_um2: float = 0.0
    source: str = ""
    datapath: str = "fp32"
    noc_bits: int = 32
    derived: tuple[str, ...] = field(default=(), compare=False)

    @property
    def pes(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class PbitArray:
    """The physical p-bits. ``count`` p-bits shared by a step's tiled units (more unit x tile
    samples than p-bits time-share them; None: one p-bit per unit and tile, fully parallel as a
    p-computer lays them out); ``sample_ns`` per sample; the device (energy per sample, area)
    comes from the energy table's ``[pbit.*]`` entries (:mod:`pbitsim.hardware.pbits`)."""

    count: int | None = None
    sample_ns: float = 1.0
    device: str = DEFAULT_DEVICE
    source: str = ""


@dataclass(frozen=True)
class Hardware:
    """A described hardware: see the module docstring."""

    name: str
    title: str
    model: str = "flat"
    table: str = DEFAULT_TABLE
    clock_hz: float = 1e9
    levels: tuple[Level, ...] = ()
    compute: ComputeArray = field(default_factory=ComputeArray)
    pbits: PbitArray = field(default_factory=PbitArray)
    objective: str = "energy"
    elementwise: str = "fused"
    source: str = ""
    path: str | None = None

    @property
    def hierarchical(self) -> bool:
        return self.model == "hierarchy"

    def level(self, name: str) -> Level:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(name)
