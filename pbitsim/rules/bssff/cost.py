"""BSSFF: the estimator walk of Scalable FF on tiled p-bit units (:mod:`pbitsim.rules.sff.cost`)."""

from __future__ import annotations

from pbitsim.estimator.algorithms import register
from pbitsim.rules.sff.cost import SFF


@register
class BSSFF(SFF):
    """SFF on tiled p-bit units: BSFF's hardware form applied to Scalable FF."""

