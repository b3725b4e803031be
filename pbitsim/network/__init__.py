"""The network model and the count vocabulary (pure Python: ``pbitsim estimate`` imports it).

* :mod:`~pbitsim.network.archs`: networks as data (built-in and user TOML architectures),
  :func:`load_arch`, :func:`list_archs`; :mod:`~pbitsim.network.arch_rules`: which rule runs
  on which net;
* :mod:`~pbitsim.network.costs`: what every operation of a step counts (one function per
  operation, used by the bridge and the estimator); :mod:`~pbitsim.network.counters`: the
  counters and the count keys; :mod:`~pbitsim.network.ops`: the expected counts of the
  work the kernels count themselves; :mod:`~pbitsim.network.tiles`: tile-count statistics.
"""

from .archs import ArchError, list_archs, load_arch

__all__ = ["load_arch", "list_archs", "ArchError"]
