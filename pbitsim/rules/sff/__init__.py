"""SFF (Scalable Forward-Forward): block-local softmax CE over goodnesses from a 1x1 conv.

``cost``: the torch-free estimator walk; ``train``: the training step. Its form on tiled p-bit
units (``--algo sff --tiles M``) is :mod:`pbitsim.rules.bssff`.
"""

ORDER = 50
