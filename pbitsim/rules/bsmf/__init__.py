"""BSMF: Mono-Forward on BSFF's tiled p-bit net.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bsmf',
    label='BSMF',
    title='BSMF (Mono-Forward on p-bits, M tiles)',
    order=41,
    family='mf',
    net='mf-mlp',
    tiled=True,
    fixed_point=False,
    default_lr=0.01,
)
