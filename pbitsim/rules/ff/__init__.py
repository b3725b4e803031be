"""Hinton's forward-forward (FF) on all-dense networks.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 10
