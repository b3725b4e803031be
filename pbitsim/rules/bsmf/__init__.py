"""BSMF: Mono-Forward on BSFF's tiled p-bit net.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 41
