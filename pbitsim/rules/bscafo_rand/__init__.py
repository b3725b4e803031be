"""BSCaFo Rand-CE: CaFo Rand-CE on BSFF's tiled p-bit blocks (what ``--algo cafo-rand --tiles M``
runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both Rand-CE's, tiled).
"""

NAME = "bscafo-rand"
ORDER = 47
