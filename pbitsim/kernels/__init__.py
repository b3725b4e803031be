"""Numba kernels of the simulated p-bit hardware (numpy in, numpy out; no torch here).

* sampling: :func:`bsn_sample`, :func:`tiled_logistic` (counter-based, seeded), with the
  mean-field helpers :func:`tiled_mean`, :func:`tiled_dmean` and :func:`tile_offsets`;
* index-and-accumulate: :func:`index_matmul`, :func:`index_matmul_xt`,
  :func:`index_conv2d`, :func:`index_conv2d_weight_grad`;
* seeds: :func:`derive_seed`;
* p-bit device models (``device=`` of the samplers): :mod:`pbitsim.kernels.devices`.

Every kernel takes ``counter=`` (an :class:`pbitsim.OpCounter`) and adds the operations
the hardware would perform; see each module's docstring for the exact counts.
"""

from .devices import Digital, Ideal, Smtj, parse_device
from .index_ops import index_conv2d, index_conv2d_weight_grad, index_matmul, index_matmul_xt
from .rng import derive_seed
from .sampling import bsn_sample, tile_offsets, tiled_dmean, tiled_logistic, tiled_mean

__all__ = [
    "bsn_sample", "tiled_logistic", "tile_offsets", "tiled_mean", "tiled_dmean",
    "index_matmul", "index_matmul_xt", "index_conv2d", "index_conv2d_weight_grad",
    "derive_seed", "Ideal", "Digital", "Smtj", "parse_device",
]
