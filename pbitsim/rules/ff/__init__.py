"""Hinton's forward-forward (FF) on all-dense networks.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='ff',
    label='FF',
    title="FF (Hinton's forward-forward)",
    order=10,
    family='ff',
    net='ff-mlp',
    default_lr=0.003,
    estimate_default=True,
    baseline_rank=1,
)
