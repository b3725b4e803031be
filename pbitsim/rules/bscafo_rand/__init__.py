"""BSCaFo Rand-CE: CaFo Rand-CE on BSFF's tiled p-bit blocks (what ``--algo cafo-rand --tiles M``
runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both Rand-CE's, tiled).
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bscafo-rand',
    label='BSCaFo Rand-CE',
    title='BSCaFo Rand-CE (CaFo Rand-CE on p-bits, M tiles)',
    order=47,
    family='cafo',
    net='cafo-cnn',
    tiled=True,
    fixed_point=False,
    default_lr=0.001,
    lr_note="the predictors' 0.001 (the seeds')",
)
