"""pbitsim: a p-bit hardware simulator and energy estimator for learning without backprop.

Importing the package is light (no numba compilation, no torch): subpackages load on use.
"""

from .counters import OpCounter, active_counter, counting

__version__ = "0.1.0"
__all__ = ["OpCounter", "counting", "active_counter", "__version__"]
