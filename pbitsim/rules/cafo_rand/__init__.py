"""CaFo Rand-CE (Cascaded Forward): random frozen blocks, one linear CE predictor per block.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

NAME = "cafo-rand"
ORDER = 45
