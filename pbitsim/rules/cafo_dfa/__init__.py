"""CaFo DFA-CE (Cascaded Forward): blocks learned by direct feedback alignment, then one linear
CE predictor per block as in Rand-CE (``pbitsim.rules.cafo_rand``).

``cost``: the torch-free estimator walk; ``train``: the training step. Both run either form:
real-valued blocks (``cafo-dfa``) or BSFF's tiled p-bit blocks (``bscafo-dfa``, what ``--algo
cafo-dfa --tiles M`` runs).
"""

from pbitsim.rulebook import PbitForm, Rule

RULE = Rule(
    name='cafo-dfa',
    label='CaFo DFA-CE',
    title='CaFo DFA-CE (DFA-trained blocks, CE predictors)',
    order=46,
    family='cafo',
    net='cafo-cnn',
    pbit=PbitForm(name='bscafo-dfa', label='BSCaFo DFA-CE',
                  title='BSCaFo DFA-CE (CaFo DFA-CE on p-bits, M tiles)', order=48),
    fixed_point=False,
    dfa_blocks=True,
    default_lr=0.00025391813833013565,
    lr_note="the predictors' 2.539e-4 (the seeds' MNIST rate; F-MNIST 3.304e-4)",
)
