"""Backpropagation (BP): end-to-end gradients, fp32, Adam.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 0
