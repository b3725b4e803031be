"""CaFo Rand-CE (Cascaded Forward): random frozen blocks, one linear CE predictor per block.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='cafo-rand',
    label='CaFo Rand-CE',
    title='CaFo Rand-CE (random blocks, CE predictors)',
    order=45,
    family='cafo',
    net='cafo-cnn',
    tiled_form='bscafo-rand',
    fixed_point=False,
    default_lr=0.001,
    lr_note="the predictors' 0.001 (the seeds')",
)
