"""The ideal sampler's 32-bit counter-based stream (``hash32``): against a Python reference,
its layout in ``tiled_logistic``, uniformity, serial independence, and unrelated keys."""

import numpy as np
import pytest
from scipy import stats

import pbitsim.kernels.sampling as sampling
from pbitsim.kernels import tiled_logistic
from pbitsim.kernels.rng import hash32_words, seed_key
from naive import hash32, tile_probs, tile_uniforms


@pytest.mark.parametrize("seed", [0, 1, 2 ** 63 + 5])
def test_hash32_matches_reference(seed):
    key = seed_key(seed)
    for start in (0, 123_456_789, 2 ** 32 - 40):
        words = hash32_words(key, np.uint32(start), 40)
        assert words.tolist() == [hash32(int(key), (start + i) % 2 ** 32) for i in range(40)]


@pytest.mark.parametrize("tiles", [1, 2, 3, 7, 8, 10, 64])
def test_tiles_read_the_stream_as_documented(tiles):
    """Each tile fires iff its uniform (from the reference layout) is below its probability;
    only draws within float32 rounding of the probability may differ."""
    z = (np.random.default_rng(tiles).standard_normal(300) * 4 + tiles / 2).astype(np.float32)
    u = tile_uniforms(7, z.size, tiles)
    p = tile_probs(z, tiles)
    close = np.abs(u - p) < 1e-5
    expected = (u < p).sum(axis=1)
    got = tiled_logistic(z, tiles, seed=7)
    sure = ~close.any(axis=1)
    assert sure.sum() > 0.9 * z.size
    np.testing.assert_array_equal(got[sure], expected[sure])


def test_hash32_words_uniform_and_serially_independent():
    n = 1 << 20
    w = hash32_words(seed_key(3), np.uint32(0), n).astype(np.int64)
    for part in (w >> 24, (w >> 8) & 0xFF, (w >> 16) & 0xFF, w & 0xFF):
        counts = np.bincount(part, minlength=256)
        assert stats.chisquare(counts).pvalue > 1e-4
    hi, lo = (w >> 16) / 65536.0, (w & 0xFFFF) / 65536.0
    for a, b in ((hi, lo), (hi[:-1], hi[1:]), (lo[:-1], lo[1:]), (lo[:-1], hi[1:]),
                 (hi[:-4], hi[4:])):
        assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)
    # pairs of consecutive high halves, 16 x 16 cells
    cells = np.bincount((w[:-1] >> 28) * 16 + (w[1:] >> 28), minlength=256)
    assert stats.chisquare(cells).pvalue > 1e-4


@pytest.mark.parametrize("other", [lambda k: k + 1, lambda k: k ^ (1 << 32),
                                   lambda k: k ^ (1 << 63), lambda k: k ^ 0xFFFFFFFF,
                                   lambda k: int(seed_key(12))])
def test_different_keys_give_unrelated_streams(other):
    """Neither a shifted nor a permuted copy: two keys' first 2**16 words share about
    2**32 / 2**32 = 1 value (a shifted or permuted copy would share nearly all), and their
    uniforms are uncorrelated at every small lag."""
    n = 1 << 16
    k = int(seed_key(11))
    a = hash32_words(np.uint64(k), np.uint32(0), n)
    b = hash32_words(np.uint64(other(k) % 2 ** 64), np.uint32(0), n)
    assert np.intersect1d(a, b).size <= 8
    ua, ub = a / 2.0 ** 32, b / 2.0 ** 32
    for lag in range(-4, 5):
        x, y = (ua[lag:], ub[:n - lag]) if lag >= 0 else (ua[:lag], ub[-lag:])
        assert abs(np.corrcoef(x, y)[0, 1]) < 5 / np.sqrt(n)


def test_too_many_draws_for_one_call_refused(monkeypatch):
    monkeypatch.setattr(sampling, "HASH32_LIMIT", 4 * 100)
    tiled_logistic(np.zeros(100, np.float32), 7, seed=1)  # 4 words a unit: just fits
    with pytest.raises(ValueError, match="at most 100"):
        tiled_logistic(np.zeros(101, np.float32), 7, seed=1)
