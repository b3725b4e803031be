"""BSFF: CwC-FF's rule on tiled p-bit units (binary stochastic FF).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 20
