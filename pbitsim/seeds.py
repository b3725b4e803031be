"""Seeds and named random streams, in one place (pure Python: no numpy, no numba).

Every random draw of a run comes from the run's seed and a tuple of integers naming the draw:
:func:`derive_seed` mixes them (SplitMix64's finaliser) into an unrelated 63-bit seed, so draws
do not depend on thread count, batch order or how a run was interrupted. The first integer
after the seed names the *stream*; the streams are declared here once (:data:`STREAMS`) rather
than written as numbers where they are used. The kernels' counter-based generator
(:mod:`pbitsim.kernels.rng`) turns such a seed into bits.

The numbers are those the code used before they had names: changing one changes every result
that depends on it.
"""

from __future__ import annotations

__all__ = ["derive_seed", "check_seed", "mix64_py", "STREAMS", "stream", "PBIT_UNIFORMS",
           "EARLIER_PBIT_UNIFORMS"]

_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15

#: The named streams: name -> the salt its draws take after the model's seed. Per-block streams
#: add the block's index (``tiles`` of block ``i`` is ``200 + i``).
STREAMS = {
    "block_tiles": 0,         # a p-bit block's tile samples (+ block index)
    "first_layer_grad": 100,  # BGBSFF: the ternary rounding of the first real layer's error
    "layer_grad": 200,        # BGBSFF: each index layer's error rounding (+ block index)
    "head_grad": 300,         # the softmax head's error rounding
    "goodness_grad": 300,     # SFF on p-bits: each goodness conv's rounding (+ block index);
                              # block 0 shares the head's salt (historical; SFF has no head)
    "real_grad": 400,         # --grad-bits: each real layer's stochastic rounding (+ index)
    "train_subset": 7919,     # --limit-train's seeded subset of the training images
    "held_out": 104729,       # greedy MF/CaFo: the held-out split for early stopping
}


#: The uniforms the ideal and sMTJ p-bits compare their sigmoid with
#: (:mod:`pbitsim.kernels.rng`, :mod:`pbitsim.kernels.sampling`): 16-bit uniforms, two per
#: word of the keyed 32-bit hash. Run files record it (``pbit_stream``) for a run on those
#: p-bits, so a checkpoint or a sweep point drawn with other uniforms is refused, not continued
#: on a different stream. A new generator or uniform definition gets a new name here.
PBIT_UNIFORMS = "hash32-u16"
#: What a run file without ``pbit_stream`` was drawn with (pbitsim before 2026-12): 24-bit
#: uniforms, two per SplitMix64 word.
EARLIER_PBIT_UNIFORMS = "splitmix64-u24"


def stream(name: str, index: int = 0) -> int:
    """The salt of stream ``name`` (for block ``index`` where it is per block)."""
    return STREAMS[name] + index


def mix64_py(z: int) -> int:
    """SplitMix64's finaliser on a Python int (a bijection on 64-bit words)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def check_seed(seed) -> int:
    """``seed`` as a 64-bit word; ``ValueError`` for anything but an integer (numpy's too)."""
    if isinstance(seed, bool) or not hasattr(seed, "__index__") or type(seed).__name__ == "bool_":
        raise ValueError(f"seed must be an integer, got {type(seed).__name__}")
    return int(seed.__index__()) & _MASK64


def derive_seed(seed, *keys) -> int:
    """A fresh 63-bit seed from a base seed and integers (stream, layer index, step, ...).

    ``derive_seed(s, 3, 10)`` is deterministic, and distinct key tuples give unrelated
    seeds, so every sampling call of a training run can have its own stream.
    """
    s = mix64_py(check_seed(seed) + _GAMMA)
    for k in keys:
        s = mix64_py(s ^ mix64_py(check_seed(k) + _GAMMA))
    return s & ((1 << 63) - 1)
