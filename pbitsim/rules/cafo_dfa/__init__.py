"""CaFo DFA-CE (Cascaded Forward): blocks learned by direct feedback alignment, then one linear
CE predictor per block as in Rand-CE (``pbitsim.rules.cafo_rand``).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='cafo-dfa',
    label='CaFo DFA-CE',
    title='CaFo DFA-CE (DFA-trained blocks, CE predictors)',
    order=46,
    family='cafo',
    net='cafo-cnn',
    tiled_form='bscafo-dfa',
    fixed_point=False,
    dfa_blocks=True,
    default_lr=0.00025391813833013565,
    lr_note="the predictors' 2.539e-4 (the seeds' MNIST rate; F-MNIST 3.304e-4)",
)
