"""BSCaFo DFA-CE: CaFo DFA-CE on BSFF's tiled p-bit blocks (what ``--algo cafo-dfa --tiles M``
runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both DFA-CE's, tiled).
"""

NAME = "bscafo-dfa"
ORDER = 48
