"""SFF (Scalable Forward-Forward): block-local softmax CE over goodnesses from a 1x1 conv.

``cost``: the torch-free estimator walk; ``train``: the training step. Both run either form:
real-valued units (``sff``) or BSFF's tiled p-bit units (``bssff``, what ``--algo sff --tiles
M`` runs).
"""

from pbitsim.rulebook import PbitForm, Rule

RULE = Rule(
    name='sff',
    label='SFF',
    title='SFF (Scalable Forward-Forward)',
    order=50,
    family='sff',
    net='sff-cnn',
    # bssff's rate: of 1e-3, 3e-3 and 1e-2 on 2,000 MNIST images x 2 epochs (sff-cnn-mnist),
    # 3e-3 learned best; 1e-2 blew the goodness of the counts up
    pbit=PbitForm(name='bssff', label='BSSFF', title='BSSFF (Scalable FF on p-bits, M tiles)',
                  order=51, default_lr=0.003, lr_note='0.003 (AdamW)'),
    fixed_point=False,
    default_lr=0.001,
)
