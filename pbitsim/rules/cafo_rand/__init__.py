"""CaFo Rand-CE (Cascaded Forward): random frozen blocks, one linear CE predictor per block.

``cost``: the torch-free estimator walk; ``train``: the training step. Both run either form:
real-valued blocks (``cafo-rand``) or BSFF's tiled p-bit blocks (``bscafo-rand``, what ``--algo
cafo-rand --tiles M`` runs).
"""

from pbitsim.rulebook import PbitForm, Rule

RULE = Rule(
    name='cafo-rand',
    label='CaFo Rand-CE',
    title='CaFo Rand-CE (random blocks, CE predictors)',
    order=45,
    family='cafo',
    net='cafo-cnn',
    pbit=PbitForm(name='bscafo-rand', label='BSCaFo Rand-CE',
                  title='BSCaFo Rand-CE (CaFo Rand-CE on p-bits, M tiles)', order=47),
    fixed_point=False,
    default_lr=0.001,
    lr_note="the predictors' 0.001 (the seeds')",
)
