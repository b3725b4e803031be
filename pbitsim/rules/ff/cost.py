"""Hinton's forward-forward: the estimator walk (:class:`LocalRule` with the Hinton variant)."""

from __future__ import annotations

from pbitsim.estimator.algorithms import register
from pbitsim.estimator.algorithms._local import LocalRule


@register
class FF(LocalRule):
    variant = "hinton"
    scheduled = False

    def model_params(self, arch):
        """The layers only: Hinton's FF predicts by goodness, with no softmax head."""
        from pbitsim.estimator.algorithms._steps import block_params
        return sum(block_params(b, pre_norm=arch.pre_norm) for b in arch.blocks)
