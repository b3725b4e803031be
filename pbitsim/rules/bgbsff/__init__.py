"""BGBSFF: BSFF with quantized local errors (integer weight-gradient accumulation).

``cost``: the torch-free estimator walk; ``train``: the training step.
"""

from pbitsim.rulebook import Rule

RULE = Rule(
    name='bgbsff',
    label='BGBSFF',
    title='BGBSFF (BSFF, quantized gradients)',
    order=30,
    family='cwc',
    tiled=True,
    default_lr=0.01,
    estimate_default=True,
    sampled_eval=True,
    quantized_errors=True,
)
