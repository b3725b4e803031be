"""p-bit samplers: exact statistics for fixed seeds, determinism, counts and bad input."""

import numpy as np
import pytest
from scipy import stats

from pbitsim import OpCounter
from pbitsim.kernels import parse_device
from pbitsim.kernels import (bsn_sample, derive_seed, tile_offsets, tiled_dmean, tiled_logistic,
                             tiled_mean)
from naive import poisson_binomial_pmf, sigmoid, tile_probs


Z_GRID = np.linspace(-6, 6, 49).astype(np.float32)


def test_bsn_frequencies_within_binomial_bounds():
    reps = 20000
    z = np.tile(Z_GRID, (reps, 1))
    s = bsn_sample(z, seed=1234)
    assert s.dtype == np.uint8 and s.shape == z.shape and set(np.unique(s)) <= {0, 1}
    k = s.sum(axis=0).astype(np.float64)
    p = sigmoid(Z_GRID)
    sd = np.sqrt(reps * p * (1 - p))
    assert np.all(np.abs(k - reps * p) <= 5 * sd + 1)
    chi2 = np.sum((k - reps * p) ** 2 / (reps * p * (1 - p)))
    assert stats.chi2.sf(chi2, df=Z_GRID.size) > 1e-4


def test_bsn_extremes_are_deterministic():
    s = bsn_sample(np.array([-60, -30, 30, 60] * 1000, np.float32), seed=5)
    assert s.reshape(-1, 4).tolist() == [[0, 0, 1, 1]] * 1000


@pytest.mark.parametrize("tiles", [1, 2, 3, 7, 10])
def test_tiled_counts_follow_poisson_binomial(tiles):
    """The whole distribution of the tile count, not just its mean, for several z."""
    reps = 8000
    zs = np.array([-2.0, 0.0, 0.7, 2.5, 5.0, 9.0], np.float32)
    out = tiled_logistic(np.tile(zs, (reps, 1)), tiles, seed=99)
    assert out.dtype == np.uint8 and out.max() <= tiles
    for col, z in enumerate(zs):
        pmf = poisson_binomial_pmf(tile_probs(z, tiles))
        observed = np.bincount(out[:, col], minlength=tiles + 1)
        keep = pmf * reps >= 5  # chi-square validity; pool the rare tail
        exp_counts = np.append(pmf[keep] * reps, pmf[~keep].sum() * reps)
        obs_counts = np.append(observed[keep], observed[~keep].sum())
        if exp_counts[-1] < 5:
            exp_counts[-2] += exp_counts[-1]
            obs_counts[-2] += obs_counts[-1]
            exp_counts, obs_counts = exp_counts[:-1], obs_counts[:-1]
        if exp_counts.size < 2:
            assert obs_counts.sum() == reps
            continue
        chi2 = np.sum((obs_counts - exp_counts) ** 2 / exp_counts)
        assert stats.chi2.sf(chi2, df=exp_counts.size - 1) > 1e-4, (tiles, z)


def test_tiled_mean_equals_sum_of_tile_sigmoids():
    reps = 4000
    out = tiled_logistic(np.tile(Z_GRID, (reps, 1)), 7, seed=3)
    mean = out.mean(axis=0)
    p = tile_probs(Z_GRID, 7)
    expected = p.sum(axis=1)
    sd = np.sqrt((p * (1 - p)).sum(axis=1) / reps)
    assert np.all(np.abs(mean - expected) <= 5 * sd + 1e-3)
    np.testing.assert_allclose(tiled_mean(Z_GRID, 7), expected, rtol=2e-6, atol=1e-6)


def test_tiled_moments_against_numpy_and_softplus():
    z = np.linspace(-30, 40, 701).astype(np.float32)
    for tiles in (1, 4, 7, 64):
        s = tile_probs(z, tiles)
        np.testing.assert_allclose(tiled_mean(z, tiles), s.sum(1), rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(tiled_dmean(z, tiles), (s * (1 - s)).sum(1), rtol=2e-5,
                                   atol=1e-6)
    # the stepped sigmoid approaches softplus below the top tile
    zz = z[(z > -5) & (z < 50)]
    assert np.abs(tiled_mean(zz, 64) - np.log1p(np.exp(zz.astype(np.float64)))).max() < 0.012


def test_tile_offsets():
    np.testing.assert_array_equal(tile_offsets(3), [0.5, 1.5, 2.5])


def test_same_seed_same_bits_and_prefix_consistency():
    z = np.random.default_rng(0).standard_normal(50_000).astype(np.float32)
    a = tiled_logistic(z, 7, seed=11)
    assert np.array_equal(a, tiled_logistic(z, 7, seed=11))
    assert not np.array_equal(a, tiled_logistic(z, 7, seed=12))
    # element i uses stream position i only: any prefix (any chunking) draws the same bits
    assert np.array_equal(a[:12_345], tiled_logistic(z[:12_345], 7, seed=11))
    assert np.array_equal(tiled_logistic(z.reshape(100, 500), 7, seed=11).ravel(), a)


def test_neighbouring_streams_are_uncorrelated():
    z = np.zeros(200_000, np.float32)
    a = bsn_sample(z, seed=1).astype(np.float64)
    b = bsn_sample(z, seed=2).astype(np.float64)
    # correlation of two fair coins over n draws has sd 1/sqrt(n)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(z.size)
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 5 / np.sqrt(z.size)


def test_derive_seed():
    s = derive_seed(7, 1, 2)
    assert s == derive_seed(7, 1, 2) and 0 <= s < 2 ** 63
    others = {derive_seed(7, 2, 1), derive_seed(7, 1), derive_seed(8, 1, 2), derive_seed(7, 1, 3)}
    assert s not in others and len(others) == 4


_THREAD_SCRIPT = """
import hashlib, numpy as np
from pbitsim.kernels import bsn_sample, tiled_logistic
z = np.random.default_rng(1).standard_normal((300, 701)).astype(np.float32)
h = hashlib.sha256(bsn_sample(z, 42).tobytes() + tiled_logistic(z, 7, 43).tobytes())
print(h.hexdigest())
"""


def test_identical_on_one_and_two_threads(digests_on_threads):
    assert len(digests_on_threads(_THREAD_SCRIPT)) == 1


def test_counts():
    z = np.zeros((3, 5), np.float32)
    c = OpCounter()
    bsn_sample(z, 0, c)
    assert c == {"pbit_sample": 15, "act_read:fp32": 15, "act_write:u1": 15}
    c = OpCounter()
    tiled_logistic(z, 7, 0, c)
    assert c == {"pbit_sample": 105, "act_read:fp32": 15, "act_write:u3": 15}


def test_empty_input():
    assert bsn_sample(np.zeros((0, 4), np.float32), 0).shape == (0, 4)
    assert tiled_logistic(np.zeros(0, np.float32), 3, 0).shape == (0,)


@pytest.mark.parametrize("call, message", [
    (lambda: bsn_sample(np.zeros(3), 0), "dtype float32"),
    (lambda: bsn_sample(np.array([0, np.nan], np.float32), 0), "non-finite"),
    (lambda: tiled_logistic(np.array([np.inf], np.float32), 2, 0), "non-finite"),
    (lambda: tiled_logistic(np.zeros(3, np.float32), 0, 0), "tiles must be in"),
    (lambda: tiled_logistic(np.zeros(3, np.float32), 65, 0), "tiles must be in"),
    (lambda: tiled_logistic(np.zeros(3, np.float32), 2.5, 0), "tiles must be an integer"),
    (lambda: bsn_sample(np.zeros(3, np.float32), 1.5), "seed must be an integer"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("tiles", [1, 2, 7, 10, 64])
def test_fused_float_and_slope_outputs_are_the_separate_results(tiles):
    """out_float / slope come from the sampling pass: the same counts, and tiled_dmean's slope
    bit for bit (the same sigmoids summed in the same order)."""
    z = (np.random.default_rng(tiles).standard_normal((37, 301)) * 4).astype(np.float32)
    f, slope = np.empty_like(z), np.empty_like(z)
    s = tiled_logistic(z, tiles, 9, out_float=f, slope=slope)
    assert np.array_equal(s, tiled_logistic(z, tiles, 9))
    assert np.array_equal(f, s.astype(np.float32))
    assert np.array_equal(slope, tiled_dmean(z, tiles))
    f2 = np.empty_like(z)
    assert np.array_equal(tiled_logistic(z, tiles, 9, out_float=f2), s)
    assert np.array_equal(f2, f)


def test_fused_outputs_checked():
    z = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="out_float must be a C-contiguous float32"):
        tiled_logistic(z, 2, 0, out_float=np.zeros(12, np.float32))
    with pytest.raises(ValueError, match="ideal device's sampler only"):
        tiled_logistic(z, 2, 0, slope=np.zeros_like(z), device=parse_device("smtj"))
