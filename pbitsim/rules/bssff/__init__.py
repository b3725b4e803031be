"""BSSFF: Scalable FF on BSFF's tiled p-bit units (what ``--algo sff --tiles M`` runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both SFF's, tiled).
"""

ORDER = 51
