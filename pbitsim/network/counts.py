"""Expected operation counts of the analytic models: the shared :class:`Counts` and the phases."""

from __future__ import annotations

from .costs import Counts

__all__ = ["Counts", "PHASES"]

# Phases of one training step, in the order they happen; inference uses "forward".
PHASES = ("forward", "loss", "backward", "weight_grad", "update")
