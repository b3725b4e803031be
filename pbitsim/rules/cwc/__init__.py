"""CwC-FF: channel-wise competitive forward-forward, real-valued.

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

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
)
