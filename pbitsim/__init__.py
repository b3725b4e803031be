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

from .counters import OpCounter, active_counter, counting  # noqa: E402

__version__ = "0.1.0"
__all__ = ["OpCounter", "counting", "active_counter", "__version__"]
