"""p-bit device models: how a p-bit turns its input into a random bit.

* :class:`Ideal` -- P(1) = sigmoid(input) exactly (float32, 2**-24 resolution). The default.
* :class:`Digital` -- a bit-true CMOS p-bit as FPGA p-computers build it: the input is
  quantized to a saturating fixed-point code (sign, ``int_bits``, ``frac_bits``), the code
  indexes a sigmoid lookup table of ``lut_depth`` entries of ``lut_width`` bits, a
  pseudo-random generator (a 32-bit Galois LFSR with configurable taps, or xoshiro128**)
  supplies a ``lut_width``-bit number, and the p-bit outputs ``LUT(I) > RNG``. So
  P(1) = LUT(I) / 2**lut_width exactly.
* :class:`Smtj` -- a stochastic magnetic tunnel junction: P(1) = sigmoid(slope * input +
  offset) with a per-device slope and offset drawn once from ``device_seed`` (log-normal
  slope, normal offset, spreads configurable), and stuck-at-0/1 devices at ``stuck_rate``.

Devices are physical: a sampling call's input ``z`` is [samples, *units] (axis 0 indexes
samples, such as a batch; a 1-D z is one sample of ``z.size`` units), and every unit and tile
is one p-bit that keeps its own variation (``Smtj``) or its own generator (``Digital``, whose
generator is loaded from the call's seed and clocked once per sample along axis 0).

``parse_device("digital:frac_bits=4,rng=xoshiro128")`` builds a device from a CLI string.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["Ideal", "Digital", "Smtj", "DEVICES", "parse_device", "lfsr_mask",
           "lfsr_is_maximal", "lfsr_step"]

RNGS = ("lfsr32", "xoshiro128")


@dataclass(frozen=True)
class Ideal:
    """An exact sigmoid p-bit."""

    name = "ideal"

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

    name = "digital"

    def __post_init__(self):
        code_bits = 1 + self.int_bits + self.frac_bits
        if self.int_bits < 0 or self.frac_bits < 0 or not 1 <= code_bits <= 24:
            raise ValueError(f"input format s{self.int_bits}.{self.frac_bits} must have "
                             "int_bits, frac_bits >= 0 and at most 24 bits in all")
        depth = self.lut_depth
        if depth < 2 or depth & (depth - 1) or depth > 2 ** code_bits:
            raise ValueError(f"lut_depth must be a power of two in 2..{2 ** code_bits} "
                             f"(the input codes), got {depth}")
        if not 1 <= self.lut_width <= 32:
            raise ValueError(f"lut_width must be in 1..32 bits, got {self.lut_width}")
        if self.rng not in RNGS:
            raise ValueError(f"rng must be one of {', '.join(RNGS)}, got {self.rng!r}")
        object.__setattr__(self, "taps", tuple(int(t) for t in self.taps))
        lfsr_mask(self.taps)  # validates
        if self.clocks < 1:
            raise ValueError(f"clocks must be >= 1, got {self.clocks}")

    @property
    def code_bits(self) -> int:
        return 1 + self.int_bits + self.frac_bits

    @property
    def index_shift(self) -> int:
        """Low code bits dropped to index the LUT (0 when it has one entry per code)."""
        return self.code_bits - int(self.lut_depth).bit_length() + 1

    def codes(self, x) -> np.ndarray:
        """Saturating fixed-point codes of real inputs (round half up)."""
        q = np.floor(np.asarray(x, np.float64) * 2.0 ** self.frac_bits + 0.5)
        half = 2 ** (self.code_bits - 1)
        return np.clip(q, -half, half - 1).astype(np.int64)

    @functools.cached_property
    def lut(self) -> np.ndarray:
        """uint64 LUT: entry k = round(sigmoid(centre of its input bin) * 2**lut_width)."""
        half = 2 ** (self.code_bits - 1)
        step = 2 ** self.index_shift
        centres = (-half + (np.arange(self.lut_depth) + 0.5) * step - 0.5) / 2.0 ** self.frac_bits
        p = 1.0 / (1.0 + np.exp(-centres))
        return np.round(p * 2.0 ** self.lut_width).astype(np.uint64)

    def probability(self, x) -> np.ndarray:
        """Exact P(1) for real inputs x: LUT(code(x)) / 2**lut_width."""
        idx = (self.codes(x) + 2 ** (self.code_bits - 1)) >> self.index_shift
        return self.lut[idx] / 2.0 ** self.lut_width

    @functools.cached_property
    def lfsr_jump(self) -> np.ndarray:
        """uint64 [4, 256]: ``clocks`` LFSR steps as XOR of four byte-indexed tables.

        The step is linear over GF(2), so the state after ``clocks`` steps is the XOR of the
        images of the state's bytes; the sampler does four lookups instead of 32 clocks.
        """
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

    name = "smtj"

    def __post_init__(self):
        for field in ("offset_sd", "slope_sd"):
            if not getattr(self, field) >= 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")
        for field in ("stuck_rate", "stuck_high"):
            if not 0 <= getattr(self, field) <= 1:
                raise ValueError(f"{field} must be in [0, 1], got {getattr(self, field)}")

    def for_layer(self, index: int) -> "Smtj":
        """The same kind of device with its own variation (another array of devices)."""
        from .rng import derive_seed
        return dataclasses.replace(self, device_seed=derive_seed(self.device_seed, index))

    @functools.lru_cache(maxsize=32)
    def parameters(self, n_units: int, tiles: int):
        """Per p-bit (unit-major, tile-minor) slope, offset and stuck state (-1 = working).

        Drawn once from ``device_seed``: the same devices for every call of that shape.
        """
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


DEVICES = {"ideal": Ideal, "digital": Digital, "smtj": Smtj}


def parse_device(spec: str):
    """A device from ``name`` or ``name:key=value,key=value`` (e.g. ``smtj:stuck_rate=0.01``)."""
    name, _, rest = spec.strip().partition(":")
    if name not in DEVICES:
        raise ValueError(f"unknown p-bit device {name!r} (choose from {', '.join(DEVICES)})")
    cls = DEVICES[name]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for item in filter(None, (s.strip() for s in rest.split(","))) if rest else ():
        key, eq, value = item.partition("=")
        if not eq or key not in fields:
            raise ValueError(f"{name} device has no option {key!r} "
                             f"(options: {', '.join(fields) or 'none'})")
        default = fields[key].default
        try:
            if isinstance(default, tuple):
                kwargs[key] = tuple(int(v) for v in value.split("/"))
            elif isinstance(default, str):
                kwargs[key] = value
            else:
                kwargs[key] = type(default)(value)
        except ValueError:
            raise ValueError(f"{name} option {key}={value!r} is not a valid "
                             f"{type(default).__name__}") from None
    return cls(**kwargs)


# ------------------------------------------------------------------------------ LFSR maths
def lfsr_mask(taps, bits: int = 32) -> int:
    """Galois toggle mask of an LFSR with feedback polynomial x^bits + sum x^t + 1."""
    taps = tuple(taps)
    if not taps or max(taps) != bits or min(taps) < 1 or len(set(taps)) != len(taps):
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
