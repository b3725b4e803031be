"""Numba kernels of the simulated p-bit hardware (numpy in, numpy out; no torch here).

* sampling: :func:`bsn_sample`, :func:`tiled_logistic` (counter-based, seeded), with the
  mean-field helpers :func:`tiled_mean`, :func:`tiled_dmean` and :func:`tile_offsets`;
* index-and-accumulate (:mod:`.index_products`): :func:`index_matmul`,
  :func:`index_matmul_xt`, :func:`index_conv2d`, :func:`index_conv2d_weight_grad`;
* their counts in closed form (:mod:`.tap_stats`): :func:`matmul_tap_stats`,
  :func:`conv2d_tap_stats`, :func:`add_index_counts`;
* pooling of tile counts: :func:`max_pool_counts`, :func:`max_pool_counts_backward`;
* the training's batch norm before the tiles: :func:`channel_moments`,
  :func:`norm_tiles_backward`;
* fixed point: the quantizer to integer words (:mod:`.quantizer`, :func:`quantize`) and the
  same products on them into saturating accumulators (:mod:`.fixed_products`,
  :func:`fixed_index_matmul` and the others, :func:`acc_range`, :func:`word_dtype`), both
  also under :mod:`.fixed_point`;
* seeds: :func:`derive_seed`;
* p-bit device models (``device=`` of the samplers) are :mod:`pbitsim.hardware.devices` (re-exported).

Their tunables (block sizes, thresholds) are ``KERNEL_*`` in :mod:`pbitsim.config`.

Every kernel takes ``counter=`` (an :class:`pbitsim.OpCounter`) and adds the operations
the hardware would perform; see each module's docstring for the exact counts.

Names load on first use (PEP 562): importing the package does not load numba, and a run whose
rule calls no kernel (the real-valued ones) never loads it. :func:`numba_threads` sets the
kernels' thread count for a block without loading numba either: asked for before numba is
loaded, it applies when a kernel first loads it.
"""

import contextlib
import importlib
import sys

_EXPORTS = {
    "bsn_sample": ".sampling", "tiled_logistic": ".sampling", "tile_offsets": ".sampling",
    "tiled_mean": ".sampling", "tiled_dmean": ".sampling",
    "index_matmul": ".index_products", "index_matmul_xt": ".index_products",
    "index_conv2d": ".index_products", "index_conv2d_weight_grad": ".index_products",
    "TapStats": ".tap_stats", "matmul_tap_stats": ".tap_stats", "conv2d_tap_stats": ".tap_stats",
    "add_index_counts": ".tap_stats",
    "max_pool_counts": ".pooling", "max_pool_counts_backward": ".pooling",
    "channel_moments": ".norm", "norm_tiles_backward": ".norm",
    "quantize": ".quantizer", "acc_range": ".fixed_products", "word_dtype": ".fixed_products",
    "fixed_index_matmul": ".fixed_products", "fixed_index_matmul_xt": ".fixed_products",
    "fixed_index_conv2d": ".fixed_products", "fixed_index_conv2d_weight_grad": ".fixed_products",
    "derive_seed": "..seeds",  # pure Python (re-exported by .rng)
    "Ideal": "..hardware.devices", "Digital": "..hardware.devices", "Smtj": "..hardware.devices",
    "parse_device": "..hardware.devices",
}
__all__ = list(_EXPORTS)


#: (thread count, on_load) of the open :func:`numba_threads` blocks entered before numba loaded
_PENDING: list = []


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    if _PENDING and "numba" in sys.modules:  # numba just loaded inside a numba_threads block
        n, on_load = _PENDING[-1]
        _set_threads(n)
        if on_load is not None:
            on_load()
    return value


def _set_threads(n: int) -> None:
    import numba
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


@contextlib.contextmanager
def numba_threads(n: int, on_load=None):
    """The kernels run on ``n`` threads (at most Numba's pool) in the block, then as before.

    Numba is not loaded for this: if it is not loaded yet, the count applies when the block's
    first kernel loads it (through this package's names), then ``on_load()`` runs, and at the
    block's end Numba returns to its default. Starting Numba's thread pool sets the OpenMP
    thread count that torch shares, so a caller that also sets torch's threads does so inside
    the block and again in ``on_load`` (:func:`pbitsim.training.trainer.thread_count`)."""
    if "numba" in sys.modules:
        import numba
        before = numba.get_num_threads()  # starts the pool now, before the caller's settings
        _set_threads(n)
        try:
            yield
        finally:
            numba.set_num_threads(before)
        return
    _PENDING.append((n, on_load))
    try:
        yield
    finally:
        _PENDING.pop()
        if "numba" in sys.modules:  # loaded in the block: back to the default
            import numba
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def __dir__():
    return sorted(set(globals()) | set(__all__))
