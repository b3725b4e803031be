"""Energy tables (TOML data) and per-algorithm operation-count models (no torch, no numba).

* :func:`load_table`, :func:`list_tables`: the per-operation energy tables in ``tables/``;
* :func:`price_counts`: counts (an ``OpCounter`` or a mapping) -> picojoules;
* :func:`load_arch`, :func:`list_archs`: built-in and user TOML architectures;
* :func:`estimate`: the analytic training/inference counts of BP, FF, BSFF, BGBSFF (and
  any algorithm registered in ``algorithms/``), priced;
* :func:`parse_device`, :func:`hardware_summary`: p-bit devices (``ideal``, ``smtj``,
  ``digital:...``) and the energy, p-bit count and area of one sweep configuration.
"""

from .archs import ArchError, list_archs, load_arch
from .devices import DEVICE_KINDS, parse_device
from .estimation import DEFAULT_ALGOS, Estimate, estimate, hardware_summary
from .pricing import price_counts
from .tables import DEFAULT_TABLE, EnergyTable, TableError, list_tables, load_table

__all__ = ["price_counts", "load_table", "list_tables", "EnergyTable", "TableError",
           "DEFAULT_TABLE", "load_arch", "list_archs", "ArchError", "estimate", "Estimate",
           "DEFAULT_ALGOS", "hardware_summary", "parse_device", "DEVICE_KINDS"]
