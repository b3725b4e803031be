"""Mono-Forward (MF): per-layer projections onto the classes, greedy or online.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='mf',
    label='MF',
    title='MF (Mono-Forward)',
    order=40,
    family='mf',
    net='mf-mlp',
    tiled_form='bsmf',
    fixed_point=False,
    default_lr=0.00157,
    lr_note="0.00157 (the seeds' MNIST rate; F-MNIST 3.873e-4, CIFAR-10 3.242e-4)",
)
