"""A training run's configuration: :class:`TrainConfig` is :class:`pbitsim.options.RunOptions`.

The one run-options type lives in the torch-free :mod:`pbitsim.options` (``pbitsim sweep``
checks its points there without importing torch); these names stay importable from here and
from :mod:`pbitsim.training`. :class:`TrainingError` is :class:`pbitsim.options.OptionError`: a
bad option and an unusable checkpoint are reported the same way (one line; the CLI prints
``Error: ...`` and exits 2).
"""

from __future__ import annotations

from ..options import RESULT_FIELDS, OptionError, RunOptions

__all__ = ["TrainConfig", "TrainingError", "RESULT_FIELDS"]

#: A training run's options (every option of ``pbitsim train``).
TrainConfig = RunOptions
#: Bad configuration or an unusable checkpoint (one-line message).
TrainingError = OptionError
