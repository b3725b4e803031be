"""p-bit sampling: binary stochastic neurons and tiled logistic units.

A p-bit outputs 1 with probability sigmoid(input). A tiled logistic unit is M p-bits
that share one pre-activation ``z`` and differ in a bias offset: tile ``i`` (1..M) fires
with probability sigmoid(z - (i - 1/2)), the stepped-sigmoid offsets of Nair & Hinton,
which the BSFF paper ties across units. The unit's output is the number of tiles that
fired (0..M); its mean, sum_i sigmoid(z - i + 1/2), approaches softplus(z) as M grows.

With the ideal device each tile compares a 16-bit uniform, (k + 1/2) * 2**-16 with k the
high or low half of a 32-bit word of the counter-based stream ``rng.hash32``, with the
float32 sigmoid p: P(1) is p rounded to a multiple of 2**-16, within 2**-17 of it (a tile
with p < 2**-17 never fires, one with p > 1 - 2**-17 always does). Two tiles per word, so
M = 7 takes 4 words per unit. (Until 2026-12 the draws were 24-bit, two per SplitMix64
word, within 2**-24: the 32-bit hash and the register-blocked loop made the sampler about
2x faster; see the README's speed section.) The sMTJ device draws the same 16-bit uniforms
(one word per tile); the digital device emulates its own generators (LFSR, xoshiro128**),
whose states are seeded from ``rng.draw64``. The sigmoid uses a
vectorisable float32 exp (Cody-Waite range reduction and a degree-7 polynomial;
relative error < 2e-7), and a unit needs one exp whatever M is:
sigmoid(z - o_i) = 1 / (1 + exp(-z) * exp(o_i)).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..network.counters import uint_dtype
from ..config import KERNEL_CHUNK as _CHUNK
from ..config import KERNEL_Z_MARGIN as _Z_MARGIN
from ..config import MAX_TILES
from ._checks import as_array, check_tiles
from ..hardware.devices import Digital, Ideal, Smtj
from .rng import HASH32_LIMIT, draw64, hash32, key_halves, seed_key

__all__ = ["bsn_sample", "tiled_logistic", "tile_offsets", "tiled_mean", "tiled_dmean"]


def tile_offsets(tiles: int) -> np.ndarray:
    """Bias offsets of the M tiles of a tiled logistic unit: i - 1/2 for i = 1..M."""
    return np.arange(check_tiles(tiles), dtype=np.float32) + np.float32(0.5)


@njit(inline="always", cache=True)
def _exp_f32(x):
    """exp(x) in float32 for x in [-87, 88]; branch-free so loops vectorise."""
    k = np.floor(x * np.float32(1.44269504) + np.float32(0.5))
    r = x - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    e = p * r * r + r + np.float32(1.0)
    scale = np.uint32((np.int32(k) + np.int32(127)) << np.int32(23)).view(np.float32)
    return e * scale


# A 16-bit integer k gives the uniform (k + 1/2) * 2**-16: exact in float32, never 0 or 1.
UNIFORM16_SCALE = np.float32(2.0 ** -16)
#: Tiles drawn per group: the sampler keeps a group's count and slope in registers
#: (8 tiles = 4 32-bit draws), so M <= 8 is one pass over the elements.
_GROUP_TILES = 8


@njit(inline="always", cache=True)
def _uniform16(k):
    """The uniform of a 16-bit integer ``k`` (uint32 below 2**16): (k + 1/2) * 2**-16."""
    return (np.float32(np.int32(k)) + np.float32(0.5)) * UNIFORM16_SCALE


@njit(inline="always", cache=True)
def _tile_group(e, pos, k0, k1, gd, c, cnt, acc, want_slope):
    """Add the ``2 * gd`` tiles of one group to ``cnt`` (tiles fired, float32) and ``acc``
    (sum of p (1 - p), in tile order): draw ``pos + d`` (d < gd) decides tile 2d by its high
    16 bits and tile 2d + 1 by its low 16 bits against p = 1 / (1 + e * c[tile])."""
    for d in range(gd):
        h = hash32(k0, k1, np.uint32(pos + np.uint32(d)))
        p0 = np.float32(1.0) / (np.float32(1.0) + e * c[2 * d])
        p1 = np.float32(1.0) / (np.float32(1.0) + e * c[2 * d + 1])
        cnt += (np.float32(_uniform16(h >> np.uint32(16)) < p0)
                + np.float32(_uniform16(h & np.uint32(0xFFFF)) < p1))
        if want_slope:
            acc += p0 * (np.float32(1.0) - p0)
            acc += p1 * (np.float32(1.0) - p1)
    return cnt, acc


def _group_draws(tiles: int) -> int:
    """Draws per tile group for M tiles: groups of at most 8 tiles, as even as possible."""
    pairs = (tiles + 1) // 2
    groups = -(-pairs * 2 // _GROUP_TILES)
    return -(-pairs // groups)


@njit(parallel=True, cache=True)
def _sample_units(z, exp_offsets, z_lo, z_hi, key, out, out_f, slope, scale, shift, plane, group):
    """out[i] = number of tiles t with u < 1 / (1 + exp(-z[i]) * exp_offsets[t]).

    When ``scale`` / ``shift`` are not empty, unit i samples ``z[i] * scale[c] + shift[c]``
    (float32 multiply, then add) instead of z[i], c = (i // plane) % scale.size: a per-channel
    affine (a batch norm) applied on the way in, never written out.

    Tiles go in groups of ``2 * gd`` (``gd = len(group)``, a compile-time constant, 1..4:
    the tuple's only use), ``ng = ceil(M / (2 gd))`` groups; tiles past M are padded with
    p = 0 (exp offset inf: never fire, slope 0). The draws of unit i are stream positions
    i * ng * gd .. (i + 1) * ng * gd - 1, of :func:`hash32`, each deciding two tiles (high
    then low 16 bits). Within a group the loop runs over elements innermost with the tiles
    unrolled, so it vectorises and a unit's count and slope stay in registers. When
    ``out_f`` / ``slope`` are not empty they receive the counts as float32 and
    sum_t p_t (1 - p_t) (the mean-field slope, from the same p_t, summed in tile order as
    ``_tiled_moments`` does: the same bits). Returns the number of non-finite inputs seen.
    """
    n = z.size
    m = exp_offsets.size
    gd = len(group)
    ng = (m + 2 * gd - 1) // (2 * gd)
    draws = ng * gd
    pad = np.full(ng * 2 * gd + _GROUP_TILES, np.inf, np.float32)
    pad[:m] = exp_offsets
    k0, k1 = key_halves(key)
    want_f = out_f.size > 0
    want_slope = slope.size > 0
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    bad = np.zeros(n_chunks, np.int64)
    for c in prange(n_chunks):
        lo = c * _CHUNK
        hi = min(n, lo + _CHUNK)
        e = np.empty(hi - lo, np.float32)
        cnt = np.empty(0 if want_f else hi - lo, np.float32)
        acc = np.empty(0 if want_slope else hi - lo, np.float32)
        nbad = 0
        if scale.size == 0:
            for i in range(hi - lo):
                zi = z[lo + i]
                nbad += not (abs(zi) <= np.float32(3.4028235e38))
                e[i] = _exp_f32(-min(max(zi, z_lo), z_hi))
        else:  # run by run of one channel, so the inner loop vectorises
            i = 0
            while i < hi - lo:
                pl = (lo + i) // plane
                a = scale[pl % scale.size]
                b = shift[pl % scale.size]
                end = min(hi - lo, (pl + 1) * plane - lo)
                for k in range(i, end):
                    zi = z[lo + k] * a + b
                    nbad += not (abs(zi) <= np.float32(3.4028235e38))
                    e[k] = _exp_f32(-min(max(zi, z_lo), z_hi))
                i = end
        # counts and slopes go straight to the outputs (the chunk's scratch where not wanted)
        f_to = out_f[lo:hi] if want_f else cnt
        s_to = slope[lo:hi] if want_slope else acc
        zero = np.float32(0.0)
        for g in range(ng):
            gb = g * 2 * gd
            cg = (pad[gb], pad[gb + 1], pad[gb + 2], pad[gb + 3], pad[gb + 4], pad[gb + 5],
                  pad[gb + 6], pad[gb + 7])
            base = np.uint32(lo * draws + g * gd)
            if g == 0:
                for i in range(hi - lo):
                    f_to[i], s_to[i] = _tile_group(e[i], base + np.uint32(i * draws), k0, k1,
                                                   gd, cg, zero, zero, want_slope)
            else:
                for i in range(hi - lo):
                    f_to[i], s_to[i] = _tile_group(e[i], base + np.uint32(i * draws), k0, k1,
                                                   gd, cg, f_to[i], s_to[i], want_slope)
        for i in range(hi - lo):
            out[lo + i] = np.uint8(f_to[i])
        bad[c] = nbad
    return bad.sum()


_M32 = np.uint64(0xFFFFFFFF)


@njit(inline="always", cache=True)
def _rotl32(x, k):
    return ((x << np.uint64(k)) | (x >> np.uint64(32 - k))) & _M32


@njit(parallel=True, cache=True)
def _sample_digital(z, offsets, scale, code_lo, code_hi, shift, lut, width, use_lfsr, jump,
                    key, out):
    """Bit-true digital p-bits: out[b, u] = number of tiles t with LUT(code) > RNG.

    z is [samples, units]; p-bit (u, t) owns a generator loaded from stream position
    u * M + t and advanced once per sample: the LFSR by its clocks-per-sample (``jump``
    holds that linear map as four byte tables), or one xoshiro128** step.
    Returns the number of non-finite inputs seen.
    """
    n_s, n_u = z.shape
    m = offsets.size
    bad = np.zeros(n_u, np.int64)
    drop = np.uint64(32 - width)
    for u in prange(n_u):
        nbad = 0
        for b in range(n_s):
            nbad += not (abs(z[b, u]) <= np.float32(3.4028235e38))
        bad[u] = nbad
        for t in range(m):
            pos = np.uint64(u) * np.uint64(m) + np.uint64(t)
            r0 = draw64(key, pos)
            r1 = draw64(key ^ np.uint64(0xD1B54A32D192ED03), pos)
            s0, s1, s2, s3 = r0 & _M32, r0 >> np.uint64(32), r1 & _M32, r1 >> np.uint64(32)
            if s0 == 0:
                s0 = np.uint64(1)  # an LFSR must not start at zero
            for b in range(n_s):
                if use_lfsr:
                    s0 = (jump[0, s0 & np.uint64(255)] ^ jump[1, (s0 >> np.uint64(8)) & np.uint64(255)]
                          ^ jump[2, (s0 >> np.uint64(16)) & np.uint64(255)]
                          ^ jump[3, s0 >> np.uint64(24)])
                    rnd = s0 >> drop
                else:
                    rnd = (_rotl32((s1 * np.uint64(5)) & _M32, 7) * np.uint64(9)) & _M32
                    rnd >>= drop
                    tt = (s1 << np.uint64(9)) & _M32
                    s2 ^= s0
                    s3 ^= s1
                    s1 ^= s2
                    s0 ^= s3
                    s2 ^= tt
                    s3 = _rotl32(s3, 11)
                x = (z[b, u] - offsets[t]) * scale
                q = np.floor(min(max(x, np.float32(-1e9)), np.float32(1e9)) + np.float32(0.5))
                code = np.int64(min(max(q, code_lo), code_hi))
                if lut[(code - np.int64(code_lo)) >> shift] > rnd:
                    out[b, u] += 1
    return bad.sum()


@njit(parallel=True, cache=True)
def _sample_smtj(z, offsets, slope, shift, stuck, key, out):
    """sMTJ p-bits: P = sigmoid(slope_j * (z - o_t) + shift_j) per p-bit j = u * M + t,
    or a constant for stuck devices. Tile t of sample b, unit u compares the 16-bit uniform of
    the high half of :func:`hash32` word (b * U + u) * M + t with P, as the ideal sampler does.
    Returns the number of non-finite inputs seen.
    """
    n_s, n_u = z.shape
    m = offsets.size
    k0, k1 = key_halves(key)
    bad = np.zeros(n_u, np.int64)
    for u in prange(n_u):
        nbad = 0
        for b in range(n_s):
            zb = z[b, u]
            nbad += not (abs(zb) <= np.float32(3.4028235e38))
            fired = 0
            for t in range(m):
                j = u * m + t
                if stuck[j] >= 0:
                    fired += stuck[j]
                    continue
                x = slope[j] * (zb - offsets[t]) + shift[j]
                x = min(max(x, np.float32(-80.0)), np.float32(80.0))
                p = np.float32(1.0) / (np.float32(1.0) + _exp_f32(-x))
                h = hash32(k0, k1, np.uint32((b * n_u + u) * m + t))
                fired += _uniform16(h >> np.uint32(16)) < p
            out[b, u] = fired
        bad[u] = nbad
    return bad.sum()


def _channel_affine(z: np.ndarray, affine):
    """``(scale, shift, plane)`` for the sampler: empty arrays when ``affine`` is None."""
    if affine is None:
        return np.zeros(0, np.float32), np.zeros(0, np.float32), 1
    scale, shift = (as_array(name, a, np.float32, 1) for name, a in zip(("scale", "shift"), affine))
    if z.ndim < 2 or scale.shape != (z.shape[1],) or shift.shape != scale.shape:
        raise ValueError(f"channel_affine needs z with a channel axis 1 and scale and shift of "
                         f"its {z.shape[1] if z.ndim > 1 else 0} channels")
    return scale, shift, max(1, int(np.prod(z.shape[2:], dtype=np.int64)))


def _check_words(units: int, words: int, tiles: int) -> None:
    """``ValueError`` unless ``units`` units of ``words`` hash32 words each fit one key."""
    most = HASH32_LIMIT // words
    if units > most:
        raise ValueError(f"z has {units} elements: one sampling call at {tiles} tiles takes at "
                         f"most {most}; split it")


def _run_sampler(z, offsets: np.ndarray, seed, counter, device, out_float=None,
                 slope=None, channel_affine=None) -> np.ndarray:
    z = as_array("z", z, np.float32)
    key = seed_key(seed)
    device = Ideal() if device is None else device
    if ((out_float is not None or slope is not None or channel_affine is not None)
            and not isinstance(device, Ideal)):
        raise ValueError("out_float / slope / channel_affine are given by the ideal device's "
                         "sampler only")
    # the ideal sampler writes every count; the device samplers add up into zeros
    out = (np.empty if isinstance(device, Ideal) else np.zeros)(z.shape, np.uint8)
    affine = _channel_affine(z, channel_affine)
    extras = []
    for name, a in (("out_float", out_float), ("slope", slope)):
        if a is None:
            extras.append(np.zeros(0, np.float32))
            continue
        if not (isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == z.shape
                and a.flags.c_contiguous):
            raise ValueError(f"{name} must be a C-contiguous float32 array of z's shape")
        extras.append(a.reshape(-1))
    if isinstance(device, Ideal):
        gd = _group_draws(offsets.size)
        _check_words(z.size, gd * -(-offsets.size // (2 * gd)), offsets.size)
        bad = _sample_units(z.reshape(-1), np.exp(offsets.astype(np.float64)).astype(np.float32),
                            np.float32(offsets.min() - _Z_MARGIN),
                            np.float32(offsets.max() + _Z_MARGIN), key, out.reshape(-1), *extras,
                            *affine, (0,) * gd)
    else:
        z2 = z.reshape(1, -1) if z.ndim < 2 else z.reshape(z.shape[0], -1)
        out2 = out.reshape(z2.shape)
        if isinstance(device, Digital):
            half = 2 ** (device.code_bits - 1)
            bad = _sample_digital(z2, offsets, np.float32(2.0 ** device.frac_bits),
                                  np.float32(-half), np.float32(half - 1), device.index_shift,
                                  device.lut, device.lut_width, device.rng == "lfsr32",
                                  device.lfsr_jump, key, out2)
        elif isinstance(device, Smtj):
            _check_words(z.size, offsets.size, offsets.size)
            slope, shift, stuck = device.parameters(z2.shape[1], offsets.size)
            bad = _sample_smtj(z2, offsets, slope, shift, stuck, key, out2)
        else:
            raise ValueError(f"unknown p-bit device {device!r}")
    if bad:
        raise ValueError(f"z holds {bad} non-finite value(s)")
    if counter is not None:
        counter.add("pbit_sample", offsets.size * z.size)
        counter.add("act_read", z.size, "fp32")
        counter.add("act_write", z.size, uint_dtype(offsets.size))
    return out


def bsn_sample(z, seed, counter=None, *, device=None) -> np.ndarray:
    """Binary stochastic neurons: uint8 of z's shape, 1 with probability sigmoid(z).

    ``z`` is float32 of any shape; ``seed`` an integer (same seed, same bits, on any
    number of threads); ``device`` a p-bit model from ``pbitsim.hardware.devices``
    (default: ideal).

    Counts
    ------
    ``pbit_sample`` = z.size; ``act_read:fp32`` = z.size; ``act_write:u1`` = z.size.
    """
    return _run_sampler(z, np.zeros(1, np.float32), seed, counter, device)


def tiled_logistic(z, tiles, seed, counter=None, *, device=None, out_float=None,
                   slope=None, channel_affine=None) -> np.ndarray:
    """Tiled logistic units: uint8 of z's shape, the number (0..tiles) of tiles that fired.

    Tile i is a p-bit fed z - (i - 1/2) (with the ideal device it fires with probability
    sigmoid(z - (i - 1/2))); counts ``tiles`` p-bit samples per element.

    Parameters
    ----------
    z : ndarray of float32
        Pre-activations, any shape.
    tiles : int
        M, tiles per unit.
    seed : int
        Stream seed: the same seed gives the same bits on any number of threads.
    counter : OpCounter, optional
        Receives the counts.
    device : p-bit device, optional
        From :mod:`pbitsim.hardware.devices`; default ideal.
    out_float, slope : ndarray of float32 of z's shape, optional
        Ideal device only: filled in the same pass with the counts as float32 and with
        ``tiled_dmean(z, tiles)`` (bit for bit: the same sigmoids, summed in the same order),
        so a training step needs no second pass for either.
    channel_affine : (scale, shift), float32 arrays of z.shape[1], optional
        Ideal device only: sample ``z * scale[c] + shift[c]`` (c the index on axis 1; float32
        multiply, then add) in place of z, the same bits as sampling that array, which is never
        written (a batch norm feeding the p-bits, applied as they read z). ``slope`` is then
        the slope at the transformed input.

    Counts
    ------
    ``pbit_sample`` = tiles x z.size; ``act_read:fp32`` = z.size; ``act_write:u<bits(M)>`` =
    z.size. The extra outputs are the simulator's (the training's), not the hardware's, and
    are not counted.
    """
    return _run_sampler(z, tile_offsets(tiles), seed, counter, device, out_float, slope,
                        channel_affine)


@njit(parallel=True, cache=True)
def _tiled_moments(z, exp_offsets, z_lo, z_hi, want_slope, out):
    """out = sum_t sigmoid(z - o_t), or sum_t sigmoid'(z - o_t) when ``want_slope``.

    One exp per element, as in the sampler: sigmoid(z - o_t) = 1 / (1 + exp(-z) exp(o_t)).
    """
    n = z.size
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    for c in prange(n_chunks):
        lo = c * _CHUNK
        hi = min(n, lo + _CHUNK)
        e = np.empty(hi - lo, np.float32)
        acc = np.zeros(hi - lo, np.float32)
        for i in range(hi - lo):
            e[i] = _exp_f32(-min(max(z[lo + i], z_lo), z_hi))
        for c_t in exp_offsets:
            for i in range(hi - lo):
                s = np.float32(1.0) / (np.float32(1.0) + e[i] * c_t)
                acc[i] += s * (np.float32(1.0) - s) if want_slope else s
        out[lo:hi] = acc


def _moments(z, tiles, want_slope: bool) -> np.ndarray:
    z = as_array("z", z, np.float32)
    offsets = tile_offsets(tiles)
    out = np.empty_like(z)
    _tiled_moments(z.reshape(-1), np.exp(offsets.astype(np.float64)).astype(np.float32),
                   np.float32(offsets.min() - _Z_MARGIN), np.float32(offsets.max() + _Z_MARGIN),
                   want_slope, out.reshape(-1))
    return out


def tiled_mean(z, tiles) -> np.ndarray:
    """Expected tiled output, sum_i sigmoid(z - o_i), float32 of z's shape."""
    return _moments(z, tiles, False)


def tiled_dmean(z, tiles) -> np.ndarray:
    """Slope of the expected tiled output, sum_i sigmoid'(z - o_i), float32 of z's shape."""
    return _moments(z, tiles, True)


assert MAX_TILES - 1 + _Z_MARGIN < 87  # every exp argument stays in _exp_f32's range
