"""p-bit devices as the energy model sees them: parse a device spec, price it with a table.

The kernels simulate three device kinds (:mod:`pbitsim.kernels.devices`); this module
mirrors their names, options and checks without importing them, because the kernels
package loads numba and ``pbitsim estimate`` stays pure Python. A spec is a string such
as ``"digital:lut_width=8,rng=xoshiro128"`` (the same strings ``pbitsim train`` takes).

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

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only (tables imports this module)
    from .archs import Arch
    from .tables import EnergyTable

__all__ = ["DeviceSpec", "IdealSpec", "DigitalSpec", "SmtjSpec", "DEVICE_KINDS", "spec_string",
           "PHYSICAL_KINDS", "DIGITAL_PARTS", "DIGITAL_RULES", "DeviceCost", "parse_device",
           "device_cost", "pbits_per_block"]

RNGS = ("lfsr32", "xoshiro128")
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


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class IdealSpec:
    """An exact sigmoid p-bit: priced as the table's default physical p-bit."""

    kind = "ideal"

    def describe(self) -> str:
        return "ideal (exact sigmoid)"


@dataclass(frozen=True)
class DigitalSpec:
    """A CMOS p-bit: fixed-point input, sigmoid LUT, PRNG, comparator (the kernel's options)."""

    int_bits: int = 4
    frac_bits: int = 3
    lut_depth: int = 256
    lut_width: int = 16
    rng: str = "lfsr32"
    taps: tuple = (32, 22, 2, 1)
    clocks: int = 32

    kind = "digital"

    def __post_init__(self):
        for name in ("int_bits", "frac_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not 1 <= self.code_bits <= 24:
            raise ValueError(f"input format s{self.int_bits}.{self.frac_bits} must have at "
                             "most 24 bits in all")
        depth = self.lut_depth
        if (not _positive_int(depth) or depth < 2 or depth & (depth - 1)
                or depth > 2 ** self.code_bits):
            raise ValueError(f"lut_depth must be a power of two in 2..{2 ** self.code_bits} "
                             f"(the input codes), got {depth!r}")
        if not _positive_int(self.lut_width) or self.lut_width > 32:
            raise ValueError(f"lut_width must be in 1..32 bits, got {self.lut_width!r}")
        if self.rng not in RNGS:
            raise ValueError(f"rng must be one of {', '.join(RNGS)}, got {self.rng!r}")
        taps = tuple(self.taps)
        if (not taps or not all(_positive_int(t) for t in taps) or max(taps) != 32
                or len(set(taps)) != len(taps)):
            raise ValueError(f"LFSR taps must be distinct exponents in 1..32 including 32, "
                             f"got {taps}")
        object.__setattr__(self, "taps", taps)
        if not _positive_int(self.clocks):
            raise ValueError(f"clocks must be >= 1, got {self.clocks!r}")

    @property
    def code_bits(self) -> int:
        """Width of the fixed-point input: sign, integer and fraction bits."""
        return 1 + self.int_bits + self.frac_bits

    @property
    def register_bits(self) -> int:
        """Flip-flops written per sample: input code, RNG state, output bit."""
        return self.code_bits + RNG_STATE_BITS[self.rng] + 1

    @property
    def xor_bits(self) -> int:
        """Two-input XORs evaluated per sample by the generator."""
        if self.rng == "lfsr32":
            return self.clocks * (len(self.taps) - 1)
        return XOSHIRO_XOR_BITS

    @property
    def adder_bits(self) -> int:
        """Adder bits per sample: the bias add, plus xoshiro's two 32-bit scrambler adds."""
        return self.code_bits + (XOSHIRO_ADDERS * 32 if self.rng == "xoshiro128" else 0)

    @property
    def lut_bits(self) -> int:
        return self.lut_depth * self.lut_width

    def describe(self) -> str:
        rng = (f"LFSR32 taps {'/'.join(map(str, self.taps))}, {self.clocks} clocks"
               if self.rng == "lfsr32" else "xoshiro128**")
        return (f"digital (s{self.int_bits}.{self.frac_bits} input, {self.lut_depth} x "
                f"{self.lut_width}-bit LUT, {rng})")


@dataclass(frozen=True)
class SmtjSpec:
    """A stochastic-MTJ p-bit; variation and faults do not change its cost."""

    offset_sd: float = 0.0
    slope_sd: float = 0.0
    stuck_rate: float = 0.0
    stuck_high: float = 0.5
    device_seed: int = 0

    kind = "smtj"

    def __post_init__(self):
        for name in ("offset_sd", "slope_sd"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("stuck_rate", "stuck_high"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def describe(self) -> str:
        return (f"smtj (offset sd {self.offset_sd:g}, log-slope sd {self.slope_sd:g}, "
                f"stuck {self.stuck_rate:g})")


DeviceSpec = IdealSpec | DigitalSpec | SmtjSpec
_CLASSES = {cls.kind: cls for cls in (IdealSpec, DigitalSpec, SmtjSpec)}
DEVICE_KINDS = tuple(_CLASSES)
PHYSICAL_KINDS = ("smtj", "digital")   # kinds with a [pbit.*] entry of their own


def spec_string(device: DeviceSpec) -> str:
    """The canonical spec: the kind, then the options that differ from their defaults."""
    changed = []
    for f in dataclasses.fields(device):
        value = getattr(device, f.name)
        if value == f.default:
            continue
        if isinstance(value, tuple):
            text = "/".join(map(str, value))
        elif isinstance(value, float):
            text = f"{value:g}"
        else:
            text = str(value)
        changed.append(f"{f.name}={text}")
    return device.kind + (":" + ",".join(changed) if changed else "")


def parse_device(spec: "str | DeviceSpec | Any | None") -> DeviceSpec:
    """A device from ``kind`` or ``kind:key=value,...``; None means ``ideal``.

    Also takes a parsed spec, or a kernel device object (its ``name`` and fields).
    Raises ``ValueError`` with one line naming the spec and the bad option.
    """
    if spec is None:
        return IdealSpec()
    if isinstance(spec, (IdealSpec, DigitalSpec, SmtjSpec)):
        return spec
    if not isinstance(spec, str):
        kind = getattr(spec, "name", None)
        if kind in _CLASSES and dataclasses.is_dataclass(spec):
            names = {f.name for f in dataclasses.fields(_CLASSES[kind])}
            return _build(kind, {k: v for k, v in dataclasses.asdict(spec).items()
                                 if k in names}, repr(spec))
        raise ValueError(f"p-bit device must be a spec string such as 'digital:lut_width=8', "
                         f"not {type(spec).__name__}")
    kind, _, rest = spec.strip().partition(":")
    if kind not in _CLASSES:
        raise ValueError(f"unknown p-bit device {kind!r} (choose from "
                         f"{', '.join(DEVICE_KINDS)}, with options as kind:key=value,...)")
    cls = _CLASSES[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    options = {}
    for item in (s.strip() for s in rest.split(",")) if rest.strip() else ():
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or key not in fields:
            raise ValueError(f"device {spec!r}: {kind} has no option {key!r} "
                             f"(options: {', '.join(fields) or 'none'})")
        default = fields[key].default
        try:
            if isinstance(default, tuple):
                options[key] = tuple(int(v) for v in value.split("/"))
            elif isinstance(default, str):
                options[key] = value.strip()
            else:
                options[key] = type(default)(value)
        except ValueError:
            raise ValueError(f"device {spec!r}: {key}={value!r} is not a valid "
                             f"{type(default).__name__}") from None
    return _build(kind, options, repr(spec))


def _build(kind: str, options: dict, label: str) -> DeviceSpec:
    try:
        return _CLASSES[kind](**options)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"device {label}: {exc}") from None


@dataclass(frozen=True)
class DeviceCost:
    """What one p-bit of a device costs under a table."""

    spec: str                         # canonical spec string
    description: str
    priced_as: str                    # the [pbit.*] entry the figures come from
    energy_per_sample_pj: float
    area_um2: float
    parts: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"spec": self.spec, "description": self.description,
                "priced_as": self.priced_as,
                "energy_per_sample_pj": self.energy_per_sample_pj,
                "area_um2": self.area_um2, "parts": self.parts}


def device_cost(device: "str | DeviceSpec | None", table: "EnergyTable") -> DeviceCost:
    """Energy per sample and area of one p-bit of ``device`` under ``table``."""
    spec = parse_device(device)
    kind = table.levels["pbit"] if spec.kind == "ideal" else spec.kind
    if kind not in table.pbit:
        raise ValueError(f"table {table.name} has no pbit.{kind} entry, which the "
                         f"{spec.kind} device needs")
    if kind == "digital":
        config = spec if isinstance(spec, DigitalSpec) else DigitalSpec()
        energy, area, parts = _digital(config, table)
    else:
        entry = table.pbit[kind]
        energy, area, parts = float(entry["energy_per_sample_pj"]), float(entry["area_um2"]), {}
    return DeviceCost(spec_string(spec), spec.describe(), kind, energy, area, parts)


def _digital(dev: DigitalSpec, table: "EnergyTable") -> tuple[float, float, dict]:
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
    lut_read_pj = dev.lut_width * read_per_bit_pj * math.sqrt(dev.lut_bits / memory_bits)
    rows = {
        "register": unit("register", dev.register_bits),
        "xor": unit("xor", dev.xor_bits),
        "adder": unit("adder", dev.adder_bits),
        "comparator": unit("comparator", dev.lut_width),
        "lut": (lut_read_pj, unit("lut_cell", dev.lut_bits)[1]),
    }
    breakdown = {name: {"energy_pj": e, "area_um2": a} for name, (e, a) in rows.items()}
    return (sum(e for e, _ in rows.values()), sum(a for _, a in rows.values()), breakdown)


def pbits_per_block(arch: "Arch", tiles: int) -> list[int]:
    """p-bits of each block when every unit has ``tiles`` p-bits of its own (the head has none)."""
    return [block.linear.n_out * tiles for block in arch.blocks]
