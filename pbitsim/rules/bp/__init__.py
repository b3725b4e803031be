"""Backpropagation (BP): end-to-end gradients, fp32, Adam.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bp',
    label='BP',
    title='BP (backpropagation)',
    order=0,
    family='bp',
    default_lr=0.001,
    estimate_default=True,
)
