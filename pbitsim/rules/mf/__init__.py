"""Mono-Forward (MF): per-layer projections onto the classes, greedy or online.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 40
