"""Tiled-unit statistics: density, nonzero fraction, after max-pooling."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pbitsim.network.tiles import DEFAULT_DENSITY, PREACT_STD, _mean_density, tile_stats

from naive import tile_probs

approx = pytest.approx


def test_one_tile_is_exact():
    s = tile_stats(1, 0.3)
    assert (s.density, s.nonzero, s.mean_count) == (0.3, 0.3, 0.3)
    pooled = tile_stats(1, 0.3, 4)
    assert pooled.nonzero == approx(1 - 0.7 ** 4) and pooled.density == pooled.nonzero


@settings(max_examples=30, deadline=None)
@given(tiles=st.integers(2, 9), density=st.floats(0.01, 0.95))
def test_nonzero_between_bounds(tiles, density):
    s = tile_stats(tiles, density)
    assert s.density == density
    assert density - 1e-9 <= s.nonzero <= min(1.0, tiles * density) + 1e-9
    pooled = tile_stats(tiles, density, 4)
    assert pooled.density >= density - 1e-9 and pooled.nonzero >= s.nonzero - 1e-9


def test_monotone_in_density():
    qs = [tile_stats(7, d).nonzero for d in (0.05, 0.1, 0.2, 0.4)]
    assert qs == sorted(qs)


def test_full_density_and_bad_input():
    s = tile_stats(7, 1.0, 4)
    assert (s.density, s.nonzero) == (1.0, 1.0)
    for bad in ((0, 0.5), (7, 0.0), (7, 1.5)):
        with pytest.raises(ValueError):
            tile_stats(*bad)


def _monte_carlo(tiles, mu, n=200_000, seed=0):
    """Density and P(x > 0) of a tiled unit with z ~ N(mu, PREACT_STD^2), by sampling z."""
    z = np.random.default_rng(seed).normal(mu, PREACT_STD, n)
    p = tile_probs(z, tiles)  # tile i fires
    return p.mean(), 1.0 - np.prod(1.0 - p, axis=1).mean()


@pytest.mark.parametrize("tiles, mu", [(7, 0.0), (7, -2.0), (3, 1.0), (1, 0.0)])
def test_model_matches_sampled_preactivations(tiles, mu):
    density, nonzero = _monte_carlo(tiles, mu)
    assert _mean_density(tiles, mu) == approx(density, abs=3e-3)
    assert tile_stats(tiles, float(density)).nonzero == approx(nonzero, abs=5e-3)


def test_default_density():
    # Centred preactivations at the trainer's scale (std 3) give 0.194 at M = 7; trained
    # networks measured 0.096-0.182, and the default sits in that range.
    assert _mean_density(7, 0.0) == approx(0.194, abs=0.002)
    assert 0.096 <= DEFAULT_DENSITY <= 0.182
    assert not math.isnan(tile_stats(7, DEFAULT_DENSITY).nonzero)
