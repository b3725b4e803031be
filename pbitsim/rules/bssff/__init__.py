"""BSSFF: Scalable FF on BSFF's tiled p-bit units (what ``--algo sff --tiles M`` runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both SFF's, tiled).
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bssff',
    label='BSSFF',
    title='BSSFF (Scalable FF on p-bits, M tiles)',
    order=51,
    family='sff',
    net='sff-cnn',
    tiled=True,
    fixed_point=False,
    default_lr=0.003,
    lr_note='0.003 (AdamW)',
)
