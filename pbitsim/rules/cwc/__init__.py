"""CwC-FF: channel-wise competitive forward-forward; on tiled p-bit units, BSFF.

``cost``: the torch-free estimator walk; ``train``: the training step. Both run either form:
real-valued ReLU units (``cwc``) or tiled logistic p-bit units (``bsff``, binary stochastic
FF: ``--algo bsff --tiles M``).
"""

from pbitsim.rulebook import PbitForm, Rule

RULE = Rule(
    name='cwc',
    label='CwC-FF',
    title='CwC-FF (channel-wise competitive FF)',
    order=15,
    family='cwc',
    default_lr=0.01,
    lr_note="0.01 (the CwC-FF reference's)",
    estimate_default=True,
    baseline_rank=0,
    # --tiles does not turn cwc into bsff: the two are priced side by side (--algo cwc,bsff)
    pbit=PbitForm(name='bsff', label='BSFF', title='BSFF (binary stochastic FF, M tiles)',
                  order=20, default_lr=0.01, lr_note='', estimate_default=True, by_tiles=False,
                  sampled_eval=True),
)
