"""The analytic estimator: a rule's training and inference counts, priced (no torch, no numba).

* :func:`estimate`: the counts of one training step and one inference of every registered
  learning rule (``algorithms/`` walks each rule's cost model over a network), priced on an
  energy table (:mod:`pbitsim.hardware`);
* :func:`hardware_summary`: the energy, p-bit count and area of one sweep configuration;
* :mod:`~pbitsim.estimator.countsfile`: a training run's measured counts, read back and priced.
"""

from .estimation import DEFAULT_ALGOS, Estimate, estimate, hardware_summary

__all__ = ["estimate", "Estimate", "DEFAULT_ALGOS", "hardware_summary"]
