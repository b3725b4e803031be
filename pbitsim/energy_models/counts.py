"""Expected operation counts of the analytic models (floats: densities make fractions)."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["Counts", "PHASES"]

# Phases of one training step, in the order they happen; inference uses "forward".
PHASES = ("forward", "loss", "backward", "weight_grad", "update")


class Counts(dict):
    """``{count key: expected number}``; the keys are the shared count vocabulary."""

    def add(self, key: str, n: float) -> "Counts":
        if n:
            self[key] = self.get(key, 0.0) + float(n)
        return self

    def merge(self, other: Mapping[str, float]) -> "Counts":
        for key, n in other.items():
            self.add(key, n)
        return self

    def scaled(self, factor: float) -> "Counts":
        return Counts({k: v * factor for k, v in self.items()})

    def __add__(self, other: Mapping[str, float]) -> "Counts":
        return Counts(self).merge(other)

    @classmethod
    def total(cls, parts) -> "Counts":
        out = cls()
        for part in parts:
            out.merge(part)
        return out
