"""Mono-Forward (MF): per-layer projections onto the classes, greedy or online.

``cost``: the torch-free estimator walk; ``train``: the training step. Both run either form:
real-valued ReLU units (``mf``) or BSFF's tiled p-bit units (``bsmf``, what ``--algo mf
--tiles M`` runs).
"""

from pbitsim.rulebook import PbitForm, Rule

RULE = Rule(
    name='mf',
    label='MF',
    title='MF (Mono-Forward)',
    order=40,
    family='mf',
    net='mf-mlp',
    pbit=PbitForm(name='bsmf', label='BSMF', title='BSMF (Mono-Forward on p-bits, M tiles)',
                  order=41, default_lr=0.01, lr_note=''),
    fixed_point=False,
    default_lr=0.00157,
    lr_note="0.00157 (the seeds' MNIST rate; F-MNIST 3.873e-4, CIFAR-10 3.242e-4)",
)
