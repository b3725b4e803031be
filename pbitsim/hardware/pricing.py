"""Turn operation counts into picojoules with an energy table."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from ..network.counters import OpCounter
from .pbits import Device
from .tables import DEFAULT_TABLE, EnergyTable, load_table

__all__ = ["price_counts"]


def price_counts(counts: "OpCounter | Mapping[str, float]",
                 table: "str | os.PathLike | EnergyTable" = DEFAULT_TABLE,
                 device: "str | Device | None" = None) -> dict:
    """Energy of ``counts`` under ``table`` (a name, a TOML path or a loaded table).

    ``device`` (a spec such as ``"digital:lut_width=8"``, as a training run records it)
    prices each ``pbit_sample``; None keeps the table's own device (``ideal`` unless the
    table came from :meth:`EnergyTable.with_device`).

    Returns ``{"total_pj", "compute_pj", "memory_pj", "pbit_pj", "by_key": {key: pj}}``.
    Counts may be integers (a kernel's ``OpCounter``) or floats (an analytic model's
    expected counts). A key outside the count vocabulary, or a negative count, raises
    ``ValueError`` naming the key.
    """
    tab = load_table(table)
    if device is not None:
        tab = tab.with_device(device)
    items = counts.items() if isinstance(counts, (OpCounter, Mapping)) else None
    if items is None:
        raise TypeError(f"counts must be an OpCounter or a mapping, not {type(counts).__name__}")
    out = {"total_pj": 0.0, "compute_pj": 0.0, "memory_pj": 0.0, "pbit_pj": 0.0, "by_key": {}}
    for key, n in items:
        if not isinstance(key, str):
            raise ValueError(f"count key {key!r} is not a string")
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n < 0:
            raise ValueError(f"count {key!r} must be a finite number >= 0, got {n!r}")
        energy_pj = n * tab.unit_pj(key)
        out["by_key"][key] = out["by_key"].get(key, 0.0) + energy_pj
        out[f"{tab.category(key)}_pj"] += energy_pj
        out["total_pj"] += energy_pj
    if not math.isfinite(out["total_pj"]):  # finite counts x bounded figures; a guard
        raise ValueError(f"table {tab.name}: these counts price to {out['total_pj']} pJ "
                         "(too large to represent)")
    return out
