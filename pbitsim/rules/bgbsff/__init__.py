"""BGBSFF: BSFF with quantized local errors (integer weight-gradient accumulation).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 30
