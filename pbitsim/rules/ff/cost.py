"""Hinton's forward-forward: the estimator walk (:class:`LocalRule` with the Hinton variant)."""

from __future__ import annotations

from pbitsim.energy_models.algorithms import register
from pbitsim.energy_models.algorithms._local import LocalRule


@register
class FF(LocalRule):
    name = "ff"
    title = "FF (Hinton's forward-forward)"
    order = 10
    variant = "hinton"
    scheduled = False
