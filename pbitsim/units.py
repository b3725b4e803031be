"""The units a rule's hidden layers are made of: a parameter every rule receives (pure Python).

A rule (:mod:`pbitsim.rules`) runs either on real-valued ReLU units (:data:`REAL`) or on tiled
p-bit units: each unit M logistic p-bits whose count of ones (0..M) is its activation, sampled
by a p-bit device (:mod:`pbitsim.hardware.devices`). The command line names the units with the
rule (``--algo bsmf``, or ``--algo mf --tiles M``: :func:`pbitsim.rulebook.resolve_algo`); a
run builds its :class:`Units` once from its checked configuration
(:func:`units_of`) and passes it to the rule's training step, whose network
it sizes. The estimator's walks receive the same choice as their descriptor's ``tiled`` and
the tile count in their ``ModelParams``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT_DEVICE, DEFAULT_TILES, check_tiles
from .hardware.devices import Device, parse_device, spec_string
from .rulebook import rule

__all__ = ["Units", "REAL", "units_of"]


@dataclass(frozen=True)
class Units:
    """Real-valued ReLU units (``tiles`` None), or tiled p-bit units of ``tiles`` p-bits each
    sampled by ``device`` (:mod:`pbitsim.hardware.devices`: given as a parsed device or a spec
    such as ``"smtj:offset_sd=0.2"``, held parsed; :attr:`device_spec` is its canonical spec).

    Build p-bit units with :meth:`pbit`; ``ValueError`` (one line) for a tile count outside
    ``1..MAX_TILES``, a bad device, or a device given to real-valued units.
    """

    tiles: int | None = None
    device: Device | None = None

    def __post_init__(self) -> None:
        if self.tiles is None:
            if self.device is not None:
                raise ValueError("real-valued units sample no p-bit device")
        else:
            check_tiles(self.tiles)
            if self.device is None or self.device == "":
                raise ValueError("tiled p-bit units need a p-bit device")
            object.__setattr__(self, "device", parse_device(self.device))

    @classmethod
    def pbit(cls, tiles: int | None = None, device: "Device | str | None" = None) -> "Units":
        """Tiled p-bit units: ``tiles`` per unit (None: ``DEFAULT_TILES``) on ``device``
        (None: the ideal device)."""
        return cls(DEFAULT_TILES if tiles is None else tiles,
                   DEFAULT_DEVICE if device is None else device)

    @property
    def tiled(self) -> bool:
        """Tiled p-bit units (index-and-accumulate on their counts) rather than real ReLU."""
        return self.tiles is not None

    @property
    def device_spec(self) -> str | None:
        """The device's canonical spec (what run files record); None for real units."""
        return None if self.device is None else spec_string(self.device)

    def describe(self) -> str:
        return f"tiled p-bit units, M = {self.tiles} ({self.device_spec})" if self.tiled else \
            "real-valued ReLU units"


#: Real-valued ReLU units.
REAL = Units()


def units_of(algo: str, tiles: int | None = None, device=None) -> Units:
    """The units rule ``algo`` (a resolved name: :func:`pbitsim.rulebook.resolve_algo`) runs:
    tiled p-bit units of ``tiles`` (None: ``DEFAULT_TILES``) p-bits sampled by ``device`` (a
    device or its spec; None: ideal) for a tiled rule (its descriptor's ``tiled``), else
    real-valued ReLU units (whatever ``tiles`` is)."""
    if not rule(algo).tiled:
        return REAL
    return Units.pbit(tiles, device)
