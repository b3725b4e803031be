"""CaFo DFA-CE (Cascaded Forward): blocks learned by direct feedback alignment, then one linear
CE predictor per block as in Rand-CE (``pbitsim.rules.cafo_rand``).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

NAME = "cafo-dfa"
ORDER = 46
