"""Gradient estimators for binary stochastic units, and BGBSFF's gradient quantizers: their
torch backwards, as subclasses of the torch-free objects of :mod:`pbitsim.network.gradients`
(which own the names and the counts). A module takes a name or an object;
:func:`estimator`/:func:`quantizer` give the torch-side object (``TiledLogistic(7,
estimator=MeanField())`` as ``TiledLogistic(7, estimator="mean-field")``).

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

from .. import kernels as K
from ..network import gradients as G
from . import tally

__all__ = ["MeanField", "StraightThrough", "SignQuantizer", "TernaryQuantizer", "ESTIMATORS",
           "QUANTIZERS", "estimator", "quantizer", "quantize_grad"]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


class _TorchSide:
    """Pickled as its name, unpickled as the torch-side object again."""

    def __reduce__(self):
        return (estimator if self._kind == "estimator" else quantizer), (self.name,)


class MeanField(_TorchSide, G.MeanField):
    def backward(self, g: torch.Tensor, saved: torch.Tensor, tiles: int, counter,
                 is_slope: bool) -> torch.Tensor:
        """``dL/dz`` from ``g = dL/ds``: ``saved`` is the slope the sampler computed
        (``is_slope``, this call's own buffer: scaled in place) or the pre-activation ``z``."""
        if counter is not None:
            tally.record(counter, self.backward_counts(saved.numel(), tiles))
        if is_slope:
            return saved.mul_(g)
        return g * torch.from_numpy(K.tiled_dmean(_np(saved), tiles))


class StraightThrough(_TorchSide, G.StraightThrough):
    def backward(self, g: torch.Tensor, saved: torch.Tensor, tiles: int, counter,
                 is_slope: bool) -> torch.Tensor:
        """Identity inside the unit's range ``(-inf, M + 1/2]`` of ``z`` (``saved``)."""
        if counter is not None:
            tally.record(counter, self.backward_counts(saved.numel(), tiles))
        return g * (saved <= tiles + 0.5).to(g.dtype)


def _per_channel(g: torch.Tensor) -> torch.Tensor:
    """``|g|`` as ``[C, everything else]`` (channels: dim 1)."""
    return g.transpose(0, 1).reshape(g.shape[1], -1).abs()


class SignQuantizer(_TorchSide, G.SignQuantizer):
    def quantize(self, g: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`quantize_grad` (``seed`` unused)."""
        return torch.sign(g), _per_channel(g).mean(1)


class TernaryQuantizer(_TorchSide, G.TernaryQuantizer):
    def quantize(self, g: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`quantize_grad` (``seed`` drives the stochastic rounding)."""
        view = (1, -1) + (1,) * (g.dim() - 2)
        scale = _per_channel(g).amax(1)
        rng = np.random.default_rng(seed)
        u = torch.from_numpy(rng.random(g.shape, dtype=np.float32))
        keep = (u * scale.reshape(view) < g.abs()).to(g.dtype)  # P(keep) = |g| / max, 0 if max = 0
        return torch.sign(g) * keep, scale


#: The torch-side objects by name (the same names, in the same order, as
#: :data:`pbitsim.network.gradients.ESTIMATORS` and :data:`~pbitsim.network.gradients.QUANTIZERS`).
ESTIMATORS = {e.name: e for e in (MeanField(), StraightThrough())}
QUANTIZERS = {q.name: q for q in (TernaryQuantizer(), SignQuantizer())}


def estimator(value) -> MeanField | StraightThrough:
    """The torch-side estimator for a name or an estimator object; ValueError if unknown."""
    return ESTIMATORS[G.estimator(value).name]


def quantizer(value):
    """The torch-side quantizer for a name or a quantizer object (None: none); ValueError if
    unknown."""
    q = G.quantizer(value)
    return None if q is None else QUANTIZERS[q.name]


def quantize_grad(g: torch.Tensor, how, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: ``q`` float32 in {-1, 0, +1} shaped like ``g`` (``[B, C, ...]``), ``scale``
    float32 ``[C]`` per channel (dim 1), and ``g ~= q * scale`` broadcast over dim 1.

    ``how``: a quantizer or its name; ``seed`` drives the stochastic rounding of ``ternary``
    (ignored by ``sign``).
    """
    return quantizer(how).quantize(g, seed)
