"""BSCaFo DFA-CE: CaFo DFA-CE on BSFF's tiled p-bit blocks (what ``--algo cafo-dfa --tiles M``
runs).

``cost``: the torch-free estimator walk; ``train``: the training step (both DFA-CE's, tiled).
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bscafo-dfa',
    label='BSCaFo DFA-CE',
    title='BSCaFo DFA-CE (CaFo DFA-CE on p-bits, M tiles)',
    order=48,
    family='cafo',
    net='cafo-cnn',
    tiled=True,
    fixed_point=False,
    dfa_blocks=True,
    default_lr=0.00025391813833013565,
    lr_note="the predictors' 2.539e-4 (the seeds' MNIST rate; F-MNIST 3.304e-4)",
)
