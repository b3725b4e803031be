"""CwC-FF: channel-wise competitive forward-forward, real-valued.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

ORDER = 15
