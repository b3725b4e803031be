"""BSSFF: the estimator walk of Scalable FF on tiled p-bit units (:mod:`pbitsim.rules.sff.cost`)."""

from __future__ import annotations

from pbitsim.energy_models.algorithms import register
from pbitsim.rules.sff.cost import SFF


@register
class BSSFF(SFF):
    """SFF on tiled p-bit units: BSFF's hardware form applied to Scalable FF."""

