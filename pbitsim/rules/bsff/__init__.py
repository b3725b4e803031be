"""BSFF: CwC-FF's rule on tiled p-bit units (binary stochastic FF).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bsff',
    label='BSFF',
    title='BSFF (binary stochastic FF, M tiles)',
    order=20,
    family='cwc',
    tiled=True,
    default_lr=0.01,
    estimate_default=True,
)
