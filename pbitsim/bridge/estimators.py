"""Gradient estimators for binary stochastic units, and BGBSFF's gradient quantizers.

Estimator (backward of a tiled logistic unit whose forward is the sampled count
``s = sum_i [u_i < sigmoid(z - o_i)]``):

* ``mean-field`` (default): ``ds/dz := d E[s]/dz = sum_i sigmoid'(z - o_i)``. It is the exact
  gradient of the variational bound's mean-field surrogate (the loss evaluated at E[s]) and equals
  the unbiased gradient of E[loss(s)] whenever the loss is linear in ``s``; it keeps the sample ``s``
  in the forward pass, so the layer's loss is still an expectation over spikes. Chosen because the
  CwC-FF local loss couples all units of a layer through max-pooling, batch norm and a softmax over
  class goodnesses, which makes the unbiased alternatives costly: the score function
  ``loss(s) * (s - E[s])`` is one scalar for ~10^5 units per sample (variance grows with layer
  width, and it needs per-tile spikes that the count-only hardware does not keep), and exact flip
  differences need one loss evaluation per unit.
* ``straight-through``: ``ds/dz := 1`` inside the unit's range, the plain STE, kept as the
  comparison baseline the issue asks to distinguish from.

Quantizers (BGBSFF: the local error ``dL/dz`` reaching a layer is replaced by a few integer levels
times one scale per output channel, so the weight-gradient accumulation is integer adds of +-1 and
one multiply per weight applies the channel's scale). Per channel, not per tensor: the batch norm
in front of every block's tiles scales each channel's error by its own ``gamma / sigma``, and with
one tensor-wide maximum the channels of largest ``gamma / sigma`` would set the rounding
probability of all others, leaving their ternary errors almost always 0.

* ``ternary`` (the trainer's default): stochastic rounding of ``g / max|g|`` to {-1, 0, +1}, scale
  ``max|g|`` of the channel; unbiased, so the expected update is the BSFF update;
* ``sign``: ``sign(g)``, scale ``mean|g|`` of the channel (strictly binary gradients); biased:
  it amplifies the many near-zero errors of a local CwC loss to full steps, and on 320 MNIST
  images (one scale per tensor, block 1 normalised only) it stayed at chance (11-13%) where
  ``ternary`` reached 30%.
"""

from __future__ import annotations

import numpy as np
import torch

from ..network.costs import ESTIMATORS, QUANTIZERS  # the names, defined once with their costs

__all__ = ["ESTIMATORS", "QUANTIZERS", "quantize_grad"]


def quantize_grad(g: torch.Tensor, how: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: ``q`` float32 in {-1, 0, +1} shaped like ``g`` (``[B, C, ...]``), ``scale``
    float32 ``[C]`` per channel (dim 1), and ``g ~= q * scale`` broadcast over dim 1.

    ``seed`` drives the stochastic rounding of ``ternary`` (ignored by ``sign``).
    """
    if how not in QUANTIZERS:
        raise ValueError(f"unknown gradient quantizer {how!r}; choose one of "
                         f"{', '.join(QUANTIZERS)}")
    per_channel = g.transpose(0, 1).reshape(g.shape[1], -1).abs()
    view = (1, -1) + (1,) * (g.dim() - 2)
    if how == "sign":
        return torch.sign(g), per_channel.mean(1)
    scale = per_channel.amax(1)
    rng = np.random.default_rng(seed)
    u = torch.from_numpy(rng.random(g.shape, dtype=np.float32))
    keep = (u * scale.reshape(view) < g.abs()).to(g.dtype)  # P(keep) = |g| / max, 0 if max = 0
    return torch.sign(g) * keep, scale
