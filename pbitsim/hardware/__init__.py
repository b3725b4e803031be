"""The hardware that counts are priced on (pure Python: ``pbitsim estimate`` imports it).

* :mod:`~pbitsim.hardware.tables`: per-operation energy tables (TOML data in ``tables/``):
  :func:`load_table`, :func:`list_tables`;
* :mod:`~pbitsim.hardware.devices`: the p-bit device models (``ideal``, ``smtj``,
  ``digital:...``) the kernels sample with, :func:`parse_device`;
* :mod:`~pbitsim.hardware.pbits`: what those devices cost under a table;
* :mod:`~pbitsim.hardware.pricing`: :func:`price_counts`, counts -> picojoules.
"""

from .devices import DEVICE_KINDS, parse_device
from .pricing import price_counts
from .tables import DEFAULT_TABLE, EnergyTable, TableError, list_tables, load_table

__all__ = ["price_counts", "load_table", "list_tables", "EnergyTable", "TableError",
           "DEFAULT_TABLE", "parse_device", "DEVICE_KINDS"]
