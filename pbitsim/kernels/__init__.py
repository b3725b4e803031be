"""Numba kernels of the simulated p-bit hardware (numpy in, numpy out; no torch here).

* sampling: :func:`bsn_sample`, :func:`tiled_logistic` (counter-based, seeded), with the
  mean-field helpers :func:`tiled_mean`, :func:`tiled_dmean` and :func:`tile_offsets`;
* index-and-accumulate: :func:`index_matmul`, :func:`index_matmul_xt`,
  :func:`index_conv2d`, :func:`index_conv2d_weight_grad`, and their counts in closed form
  (:func:`matmul_tap_stats`, :func:`conv2d_tap_stats`, :func:`add_index_counts`);
* pooling of tile counts: :func:`max_pool_counts`, :func:`max_pool_counts_backward`;
* the training's batch norm before the tiles: :func:`channel_moments`,
  :func:`norm_tiles_backward`;
* fixed point (:mod:`.fixed_point`): the same products on integer words into saturating
  accumulators, :func:`fixed_index_matmul` and the others, and its quantizer;
* seeds: :func:`derive_seed`;
* p-bit device models (``device=`` of the samplers) are :mod:`pbitsim.hardware.devices` (re-exported).

Every kernel takes ``counter=`` (an :class:`pbitsim.OpCounter`) and adds the operations
the hardware would perform; see each module's docstring for the exact counts.

Names load on first use (PEP 562): importing the package does not load numba.
"""

import importlib

_EXPORTS = {
    "bsn_sample": ".sampling", "tiled_logistic": ".sampling", "tile_offsets": ".sampling",
    "tiled_mean": ".sampling", "tiled_dmean": ".sampling",
    "index_matmul": ".index_ops", "index_matmul_xt": ".index_ops", "index_conv2d": ".index_ops",
    "index_conv2d_weight_grad": ".index_ops", "TapStats": ".index_ops",
    "matmul_tap_stats": ".index_ops", "conv2d_tap_stats": ".index_ops",
    "add_index_counts": ".index_ops",
    "max_pool_counts": ".pooling", "max_pool_counts_backward": ".pooling",
    "channel_moments": ".norm", "norm_tiles_backward": ".norm",
    "fixed_index_matmul": ".fixed_point", "fixed_index_matmul_xt": ".fixed_point",
    "fixed_index_conv2d": ".fixed_point", "fixed_index_conv2d_weight_grad": ".fixed_point",
    "derive_seed": ".rng",
    "Ideal": "..hardware.devices", "Digital": "..hardware.devices", "Smtj": "..hardware.devices",
    "parse_device": "..hardware.devices",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
