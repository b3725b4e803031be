"""p-bit device models: how a p-bit turns its input into a random bit. One definition for every
command: the kernels sample with these devices (``device=``), the energy model prices them under
a table (:mod:`pbitsim.hardware.pbits`), and ``--device`` strings of train, estimate and
sweep parse here.

* :class:`Ideal` -- P(1) = sigmoid(input) (float32), rounded to a multiple of 2**-16 by the
  sampler's 16-bit uniforms (within 2**-17; :mod:`pbitsim.kernels.sampling`). The default.
* :class:`Digital` -- a bit-true CMOS p-bit as FPGA p-computers build it: the input is
  quantized to a saturating fixed-point code (sign, ``int_bits``, ``frac_bits``), the code
  indexes a sigmoid lookup table of ``lut_depth`` entries of ``lut_width`` bits, a
  pseudo-random generator (a 32-bit Galois LFSR with configurable taps, or xoshiro128**)
  supplies a ``lut_width``-bit number, and the p-bit outputs ``LUT(I) > RNG``. So
  P(1) = LUT(I) / 2**lut_width exactly.
* :class:`Smtj` -- a stochastic magnetic tunnel junction: P(1) = sigmoid(slope * input +
  offset) with a per-device slope and offset drawn once from ``device_seed`` (log-normal
  slope, normal offset, spreads configurable), and stuck-at-0/1 devices at ``stuck_rate``
  (drawn with the ideal sampler's 16-bit uniforms).

Devices are physical: a sampling call's input ``z`` is [samples, *units] (axis 0 indexes
samples, such as a batch; a 1-D z is one sample of ``z.size`` units), and every unit and tile
is one p-bit that keeps its own variation (``Smtj``) or its own generator (``Digital``, whose
generator is loaded from the call's seed and clocked once per sample along axis 0).

``parse_device("digital:frac_bits=4,rng=xoshiro128")`` builds a device from a CLI string and
``spec_string`` writes its canonical spec back. This module imports neither numba nor (until
a LUT or a device array is built) numpy, so the energy model uses the same definitions.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ..seeds import PBIT_UNIFORMS, derive_seed

__all__ = ["Ideal", "Digital", "Smtj", "Device", "DEVICE_KINDS", "RNGS", "parse_device",
           "split_devices", "spec_string", "lfsr_mask", "lfsr_is_maximal", "lfsr_step"]

RNGS = ("lfsr32", "xoshiro128")


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class Ideal:
    """An exact sigmoid p-bit."""

    kind: ClassVar[str] = "ideal"
    #: The uniforms its tiles draw (:data:`pbitsim.seeds.PBIT_UNIFORMS`).
    uniforms: ClassVar[str | None] = PBIT_UNIFORMS

    def describe(self) -> str:
        return "ideal (exact sigmoid)"


@dataclass(frozen=True)
class Digital:
    """Fixed-point input -> sigmoid LUT -> comparator against a PRNG (see module docstring).

    Defaults follow FPGA p-computers: an s4.3 input (8 bits, saturating at +-16), a 256-entry
    LUT, a 32-bit LFSR with taps (32, 22, 2, 1); the comparison is 16 bits wide.
    """

    int_bits: int = 4
    frac_bits: int = 3
    lut_depth: int = 256
    lut_width: int = 16
    rng: str = "lfsr32"
    taps: tuple = (32, 22, 2, 1)
    clocks: int = 32  # LFSR clocks between samples (a fresh 32-bit window each time)

    kind: ClassVar[str] = "digital"
    #: None: its draws come from its own generator (an LFSR or a seeded stream: the spec),
    #: recorded with the device.
    uniforms: ClassVar[str | None] = None

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
        object.__setattr__(self, "taps", tuple(self.taps))
        lfsr_mask(self.taps)  # validates
        if not _positive_int(self.clocks):
            raise ValueError(f"clocks must be >= 1, got {self.clocks!r}")

    @property
    def code_bits(self) -> int:
        return 1 + self.int_bits + self.frac_bits

    @property
    def index_shift(self) -> int:
        """Low code bits dropped to index the LUT (0 when it has one entry per code)."""
        return self.code_bits - int(self.lut_depth).bit_length() + 1

    def codes(self, x):
        """Saturating fixed-point codes of real inputs (round half up)."""
        import numpy as np
        q = np.floor(np.asarray(x, np.float64) * 2.0 ** self.frac_bits + 0.5)
        half = 2 ** (self.code_bits - 1)
        return np.clip(q, -half, half - 1).astype(np.int64)

    @functools.cached_property
    def lut(self):
        """uint64 LUT: entry k = round(sigmoid(centre of its input bin) * 2**lut_width)."""
        import numpy as np
        half = 2 ** (self.code_bits - 1)
        step = 2 ** self.index_shift
        centres = (-half + (np.arange(self.lut_depth) + 0.5) * step - 0.5) / 2.0 ** self.frac_bits
        p = 1.0 / (1.0 + np.exp(-centres))
        return np.round(p * 2.0 ** self.lut_width).astype(np.uint64)

    def probability(self, x):
        """Exact P(1) for real inputs x: LUT(code(x)) / 2**lut_width."""
        idx = (self.codes(x) + 2 ** (self.code_bits - 1)) >> self.index_shift
        return self.lut[idx] / 2.0 ** self.lut_width

    @functools.cached_property
    def lfsr_jump(self):
        """uint64 [4, 256]: ``clocks`` LFSR steps as XOR of four byte-indexed tables.

        The step is linear over GF(2), so the state after ``clocks`` steps is the XOR of the
        images of the state's bytes; the sampler does four lookups instead of 32 clocks.
        """
        import numpy as np
        mask = lfsr_mask(self.taps)
        table = np.zeros((4, 256), np.uint64)
        for byte in range(4):
            for v in range(256):
                s = v << (8 * byte)
                for _ in range(self.clocks):
                    s = lfsr_step(s, mask)
                table[byte, v] = s
        return table

    def describe(self) -> str:
        rng = f"LFSR32 taps {self.taps}" if self.rng == "lfsr32" else "xoshiro128**"
        return (f"digital (s{self.int_bits}.{self.frac_bits} input, {self.lut_depth} x "
                f"{self.lut_width}-bit LUT, {rng})")


@dataclass(frozen=True)
class Smtj:
    """A stochastic-MTJ p-bit with device-to-device variation and stuck devices."""

    offset_sd: float = 0.0    # sd of the sigmoid's offset, in units of the input
    slope_sd: float = 0.0     # sd of log(slope)
    stuck_rate: float = 0.0   # fraction of devices stuck at 0 or 1
    stuck_high: float = 0.5   # fraction of stuck devices stuck at 1
    device_seed: int = 0

    kind: ClassVar[str] = "smtj"
    uniforms: ClassVar[str | None] = PBIT_UNIFORMS

    def __post_init__(self):
        for name in ("offset_sd", "slope_sd"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("stuck_rate", "stuck_high"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def for_layer(self, index: int) -> "Smtj":
        """The same kind of device with its own variation (another array of devices)."""
        return dataclasses.replace(self, device_seed=derive_seed(self.device_seed, index))

    @functools.lru_cache(maxsize=32)
    def parameters(self, n_units: int, tiles: int):
        """Per p-bit (unit-major, tile-minor) slope, offset and stuck state (-1 = working).

        Drawn once from ``device_seed``: the same devices for every call of that shape.
        """
        import numpy as np
        rng = np.random.default_rng([self.device_seed & (2 ** 63 - 1), n_units, tiles])
        n = n_units * tiles
        slope = np.exp(self.slope_sd * rng.standard_normal(n)).astype(np.float32)
        offset = (self.offset_sd * rng.standard_normal(n)).astype(np.float32)
        stuck = np.full(n, -1, np.int8)
        broken = rng.random(n) < self.stuck_rate
        stuck[broken] = (rng.random(int(broken.sum())) < self.stuck_high).astype(np.int8)
        for a in (slope, offset, stuck):
            a.flags.writeable = False
        return slope, offset, stuck

    def describe(self) -> str:
        return (f"smtj (offset sd {self.offset_sd:g}, log-slope sd {self.slope_sd:g}, "
                f"stuck {self.stuck_rate:g})")


Device = Ideal | Digital | Smtj
_CLASSES = {cls.kind: cls for cls in (Ideal, Digital, Smtj)}
DEVICE_KINDS = tuple(_CLASSES)


def spec_string(device: Device) -> str:
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


def parse_device(spec: "str | Device | Any | None") -> Device:
    """A device from ``kind`` or ``kind:key=value,...`` (tuples as ``32/22/2/1``).

    None means ``ideal``; a device passes through. Raises ``ValueError`` with one line
    naming the spec and the bad option.
    """
    if spec is None:
        return Ideal()
    if isinstance(spec, (Ideal, Digital, Smtj)):
        return spec
    if not isinstance(spec, str):
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
        if key in options:
            raise ValueError(f"device {spec!r}: option {key!r} is given twice")
        default = fields[key].default
        try:
            if isinstance(default, tuple):
                options[key] = tuple(int(v) for v in value.split("/"))
            elif isinstance(default, str):
                options[key] = value.strip()
            else:
                options[key] = type(default)(value)
                if isinstance(default, float) and not math.isfinite(options[key]):
                    raise ValueError("not finite")
        except ValueError:
            kind_name = "finite number" if isinstance(default, float) else type(default).__name__
            raise ValueError(f"device {spec!r}: {key}={value!r} is not a valid "
                             f"{kind_name}") from None
    try:
        return cls(**options)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"device {spec!r}: {exc}") from None


# ------------------------------------------------------------------------------ LFSR maths
def lfsr_mask(taps, bits: int = 32) -> int:
    """Galois toggle mask of an LFSR with feedback polynomial x^bits + sum x^t + 1."""
    taps = tuple(taps)
    if (not taps or not all(_positive_int(t) for t in taps) or max(taps) != bits
            or len(set(taps)) != len(taps)):
        raise ValueError(f"LFSR taps must be distinct exponents in 1..{bits} including {bits}, "
                         f"got {taps}")
    return sum(1 << (t - 1) for t in taps)


def lfsr_step(state: int, mask: int) -> int:
    """One clock of a right-shifting Galois LFSR (the same step as the sampling kernel)."""
    return (state >> 1) ^ (mask if state & 1 else 0)


def _polymulmod(a: int, b: int, poly: int, deg: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a >> deg & 1:
            a ^= poly
    return out


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        if n % p == 0:
            out.append(p)
            while n % p == 0:
                n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def lfsr_is_maximal(taps, bits: int = 32) -> bool:
    """Whether the LFSR with these taps cycles through all 2**bits - 1 non-zero states.

    True exactly when its feedback polynomial is primitive over GF(2): x has order
    2**bits - 1 modulo it (checked by fast exponentiation against each prime factor).
    """
    poly = lfsr_mask(taps, bits) << 1 | 1  # x^bits + sum x^t + 1, as a bit vector
    order = 2 ** bits - 1

    def x_power(e: int) -> int:
        result, base = 1, 2
        while e:
            if e & 1:
                result = _polymulmod(result, base, poly, bits)
            base = _polymulmod(base, base, poly, bits)
            e >>= 1
        return result

    return x_power(order) == 1 and all(x_power(order // q) != 1 for q in _prime_factors(order))


def split_devices(text: str) -> list[str]:
    """Device specs from a comma list, where options of a spec also use commas.

    ``"ideal,smtj:offset_sd=0.2,stuck_rate=0.01,digital"`` -> ``["ideal",
    "smtj:offset_sd=0.2,stuck_rate=0.01", "digital"]``: a piece that does not start with a
    device kind continues the spec before it.
    """
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if piece.partition(":")[0] in DEVICE_KINDS or not specs:
            specs.append(piece)
        else:
            specs[-1] += "," + piece
    return specs
