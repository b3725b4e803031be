"""p-bit devices as the energy model sees them: what one p-bit costs under a table.

The devices themselves (their options, checks and spec strings such as
``"digital:lut_width=8,rng=xoshiro128"``, the same strings ``pbitsim train`` takes) are
:mod:`pbitsim.hardware.devices`, one definition that the kernels sample with and that loads neither numba
nor numpy, so ``pbitsim estimate`` stays light. This module prices them under a table.

What a device costs comes from the table's ``[pbit.*]`` entries (energy per sample in
pJ, area per p-bit in um^2):

* ``smtj``: the table's ``pbit.smtj`` figures; the variation and fault options change
  what a device does, not what it costs;
* ``ideal``: an exact sigmoid has no hardware of its own, so it is priced as the table's
  default physical p-bit, ``levels.pbit`` (``smtj`` in the shipped tables);
* ``digital``: composed from the table's ``[pbit_parts.*]`` per-component figures by
  :data:`DIGITAL_RULES`, so its energy and area follow its configuration.

Every p-bit is its own hardware (fully parallel, as a p-computer lays them out): one per
tiled unit and tile, so a network has ``sum over BSN layers of units x M`` of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Protocol

from .devices import DEVICE_KINDS, Device, Digital, Ideal, Smtj, parse_device, spec_string

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ..network.archs import Arch


class PricedTable(Protocol):
    """What pricing a device reads of an energy table
    (:class:`~pbitsim.hardware.tables.EnergyTable`, which imports this module)."""

    name: str
    levels: Mapping[str, str]
    memory: Mapping[str, Mapping]
    pbit: Mapping[str, Mapping]
    pbit_parts: Mapping[str, Mapping]

__all__ = ["Device", "Ideal", "Digital", "Smtj", "DEVICE_KINDS", "spec_string",
           "PHYSICAL_KINDS", "DIGITAL_PARTS", "DIGITAL_RULES", "DeviceCost", "parse_device",
           "device_cost", "pbits_per_block"]

RNG_STATE_BITS = {"lfsr32": 32, "xoshiro128": 128}
# xoshiro128** per output: s2^=s0, s3^=s1, s1^=s2, s0^=s3, s2^=t on 32-bit words (shifts
# and rotations are wiring) and two adds for the scrambler (x*5 = x + x<<2, x*9 = x + x<<3).
XOSHIRO_XOR_BITS = 5 * 32
XOSHIRO_ADDERS = 2

# Components of a digital p-bit: the [pbit_parts.*] entries a table must have for it, with
# the figures each entry carries (energy per operation of ``bits`` bits, area of ``bits``).
DIGITAL_PARTS = {
    "register": ("energy_pj", "area_um2"),     # a flip-flop: energy per bit written
    "xor": ("energy_pj", "area_um2"),          # a bitwise (XOR) unit
    "adder": ("energy_pj", "area_um2"),
    "comparator": ("energy_pj", "area_um2"),
    "lut_cell": ("area_um2",),                 # one stored LUT bit (its read: rule below)
}

DIGITAL_RULES = (
    "digital p-bit, per sample: registers written = input code (1 + int_bits + frac_bits) "
    "+ RNG state (lfsr32: 32, xoshiro128: 128) + 1 output bit, each a pbit_parts.register",
    "  RNG logic: lfsr32 = clocks x (taps - 1) XOR bits (the Galois steps unrolled into one "
    "clock, no sharing); xoshiro128 = 160 XOR bits + two 32-bit adds",
    "  bias: one code-width add (the tile offset); comparator LUT(I) > RNG: lut_width bits",
    "  parts scale linearly in width from their entry's bits (XOR, adder, comparator)",
    "  LUT read: lut_width bits at the per-bit read energy of pbit.digital.lut_memory, "
    "scaled by sqrt(LUT bits / that memory's bits) (the table's SRAMs grow as sqrt(capacity))",
    "  area: the same parts, plus lut_depth x lut_width pbit_parts.lut_cell",
)


def register_bits(dev: Digital) -> int:
    """Flip-flops written per sample: input code, RNG state, output bit."""
    return dev.code_bits + RNG_STATE_BITS[dev.rng] + 1


def xor_bits(dev: Digital) -> int:
    """Two-input XORs evaluated per sample by the generator."""
    return dev.clocks * (len(dev.taps) - 1) if dev.rng == "lfsr32" else XOSHIRO_XOR_BITS


def adder_bits(dev: Digital) -> int:
    """Adder bits per sample: the bias add, plus xoshiro's two 32-bit scrambler adds."""
    return dev.code_bits + (XOSHIRO_ADDERS * 32 if dev.rng == "xoshiro128" else 0)


PHYSICAL_KINDS = ("smtj", "digital")   # kinds with a [pbit.*] entry of their own


@dataclass(frozen=True)
class DeviceCost:
    """What one p-bit of a device costs under a table."""

    spec: str                         # canonical spec string
    description: str
    priced_as: str                    # the [pbit.*] entry the figures come from
    energy_per_sample_pj: float
    area_um2: float
    parts: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"spec": self.spec, "description": self.description,
                "priced_as": self.priced_as,
                "energy_per_sample_pj": self.energy_per_sample_pj,
                "area_um2": self.area_um2, "parts": self.parts}


def device_cost(device: "str | Device | None", table: PricedTable) -> DeviceCost:
    """Energy per sample and area of one p-bit of ``device`` under ``table``."""
    spec = parse_device(device)
    kind = table.levels["pbit"] if spec.kind == "ideal" else spec.kind
    if kind not in table.pbit:
        raise ValueError(f"table {table.name} has no pbit.{kind} entry, which the "
                         f"{spec.kind} device needs")
    if kind == "digital":
        config = spec if isinstance(spec, Digital) else Digital()
        energy, area, parts = _digital(config, table)
    else:
        entry = table.pbit[kind]
        energy, area, parts = float(entry["energy_per_sample_pj"]), float(entry["area_um2"]), {}
    return DeviceCost(spec_string(spec), spec.describe(), kind, energy, area, parts)


def _digital(dev: Digital, table: PricedTable) -> tuple[float, float, dict]:
    """Energy per sample and area of a digital p-bit, part by part (DIGITAL_RULES)."""
    parts = table.pbit_parts

    def unit(name: str, bits: int) -> tuple[float, float]:
        """Energy and area of ``bits`` bits of a part, linear in its entry's width."""
        entry = parts[name]
        scale = bits / entry["bits"]
        return float(entry.get("energy_pj", 0.0)) * scale, float(entry["area_um2"]) * scale

    memory = table.memory[table.pbit["digital"]["lut_memory"]]
    memory_bits = 8 * memory["capacity_bytes"]
    read_per_bit_pj = memory["read_pj"] / memory["access_bits"]
    lut_read_pj = dev.lut_width * read_per_bit_pj * math.sqrt(dev.lut_depth * dev.lut_width / memory_bits)
    rows = {
        "register": unit("register", register_bits(dev)),
        "xor": unit("xor", xor_bits(dev)),
        "adder": unit("adder", adder_bits(dev)),
        "comparator": unit("comparator", dev.lut_width),
        "lut": (lut_read_pj, unit("lut_cell", dev.lut_depth * dev.lut_width)[1]),
    }
    breakdown = {name: {"energy_pj": e, "area_um2": a} for name, (e, a) in rows.items()}
    return (sum(e for e, _ in rows.values()), sum(a for _, a in rows.values()), breakdown)


def pbits_per_block(arch: "Arch", tiles: int) -> list[int]:
    """p-bits of each block when every unit has ``tiles`` p-bits of its own (the head has none)."""
    return [block.linear.n_out * tiles for block in arch.blocks]
