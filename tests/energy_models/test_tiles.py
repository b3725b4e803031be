"""Tiled-unit statistics: density, nonzero fraction, after max-pooling."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from pbitsim.energy_models.tiles import DEFAULT_DENSITY, _mean_density, tile_stats

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


def test_default_density_is_conservative():
    # Centred unit-scale preactivations give about 0.114 at M = 7; the default is above.
    assert _mean_density(7, 0.0) == approx(0.114, abs=0.002)
    assert DEFAULT_DENSITY >= _mean_density(7, 0.0)
    # With one tile, sigmoid(z - 1/2) averaged over N(0, 1).
    assert _mean_density(1, 0.0) == approx(0.398, abs=0.002)
    assert not math.isnan(tile_stats(7, DEFAULT_DENSITY).nonzero)
