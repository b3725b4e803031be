"""pbitsim: a p-bit hardware simulator and energy estimator for learning without backprop.

Importing the package is light (no numba compilation, no torch): subpackages load on use.
"""

import os
import sys

# Two OpenMP runtimes share the cores in a training step: torch's and the one Numba's parallel
# kernels run on, in turns. By default each one's idle workers spin for a while after every
# parallel region, taking the cores the other runtime is about to use (and, on a busy machine,
# stalling every barrier). Idle workers that sleep cost a wake-up per region instead. Measured:
# the BSFF step got faster, CwC-FF alike or faster (README, speed). Read by each runtime when it
# loads, so it applies when pbitsim is imported before torch (the CLI does); an explicit setting
# wins.
#: True when torch was loaded before pbitsim with no wait policy set: its workers then spin
#: (a Mono-Forward step measured 20x slower on a busy 2-core machine); the trainer warns.
OMP_SPINNING = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .network.counters import OpCounter, active_counter, counting  # noqa: E402

__version__ = "0.1.0"

#: The public API, imported on first use (``pbitsim.BSNLinear`` loads torch; ``pbitsim.estimate``
#: does not): name -> module. Everything else is internal and may move.
_LAZY = {
    # p-bit layers and units for your own torch model (counted by ``counting()``)
    "TiledLogistic": "pbitsim.bridge.modules", "BinaryStochastic": "pbitsim.bridge.modules",
    "BSNLinear": "pbitsim.bridge.modules", "BSNConv2d": "pbitsim.bridge.modules",
    "FoldableBatchNorm1d": "pbitsim.bridge.modules",
    "FoldableBatchNorm2d": "pbitsim.bridge.modules",
    "CountedLinear": "pbitsim.bridge.counted", "CountedConv2d": "pbitsim.bridge.counted",
    # counts of the work torch does outside the layers (the loss, the optimizer step)
    "count_softmax_ce": "pbitsim.bridge.tally", "count_adam": "pbitsim.bridge.tally",
    # the estimator and the pricing of counts (torch-free)
    "estimate": "pbitsim.estimator", "price_counts": "pbitsim.hardware",
    "load_table": "pbitsim.hardware", "list_tables": "pbitsim.hardware",
    "load_arch": "pbitsim.network", "list_archs": "pbitsim.network",
    "parse_device": "pbitsim.hardware",
    # the learning rules' descriptors
    "RULES": "pbitsim.rules", "rule": "pbitsim.rules",
}

__all__ = ["OpCounter", "counting", "active_counter", "__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pbitsim' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
