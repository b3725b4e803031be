"""SFF (Scalable Forward-Forward): block-local softmax CE over goodnesses from a 1x1 conv.

``cost``: the torch-free estimator walk; ``train``: the training step. Its form on tiled p-bit
units (``--algo sff --tiles M``) is :mod:`pbitsim.rules.bssff`.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='sff',
    label='SFF',
    title='SFF (Scalable Forward-Forward)',
    order=50,
    family='sff',
    net='sff-cnn',
    tiled_form='bssff',
    fixed_point=False,
    default_lr=0.001,
)
