"""p-bit device models: the digital p-bit is bit-true to its LUT, the LFSR is maximal,
sMTJ variation and faults have the configured statistics."""

import numpy as np
import pytest
from scipy import stats

from pbitsim.kernels import bsn_sample, tile_offsets, tiled_logistic
from pbitsim.hardware.devices import (
    Digital, Ideal, Smtj, lfsr_is_maximal, lfsr_mask, lfsr_step, parse_device)

from naive import sigmoid


def binomial_ok(k, n, p, sigmas=5.0):
    """Counts k of n draws agree with probabilities p (each within `sigmas` sd, + chi-square)."""
    p = np.asarray(p, np.float64)
    sd = np.sqrt(n * p * (1 - p))
    within = np.all(np.abs(k - n * p) <= sigmas * sd + 1e-9)
    inner = (p > 0) & (p < 1)
    chi2 = np.sum((k[inner] - n * p[inner]) ** 2 / (n * p[inner] * (1 - p[inner])))
    return within and stats.chi2.sf(chi2, max(1, inner.sum())) > 1e-4


# ----------------------------------------------------------------------------- digital
def test_lut_is_the_rounded_sigmoid_of_every_code():
    d = Digital(int_bits=3, frac_bits=2, lut_depth=64, lut_width=10)
    codes = np.arange(-32, 32)
    expected = np.round(sigmoid(codes / 4.0) * 1024)
    np.testing.assert_array_equal(d.lut, expected)
    np.testing.assert_array_equal(d.probability(codes / 4.0), expected / 1024)
    # saturation and rounding of inputs between codes
    assert d.probability([100.0])[0] == d.lut[-1] / 1024
    assert d.probability([-100.0])[0] == d.lut[0] / 1024
    assert d.probability([0.124])[0] == d.probability([0.0])[0]      # 0.124 * 4 rounds to 0
    assert d.probability([0.125])[0] == d.probability([0.25])[0]     # half rounds up


def test_coarse_lut_shares_entries_between_codes():
    d = Digital(int_bits=2, frac_bits=1, lut_depth=4, lut_width=8)   # 16 codes, 4 entries
    codes = np.arange(-8, 8)
    p = d.probability(codes / 2.0).reshape(4, 4)
    assert np.all(p == p[:, :1]) and len(np.unique(p)) == 4


@pytest.mark.parametrize("rng", ["lfsr32", "xoshiro128"])
def test_digital_probabilities_equal_lut_values(rng):
    """Enumerate every input code: the firing frequency of each is LUT(code) / 2**width."""
    d = Digital(int_bits=3, frac_bits=2, lut_depth=64, lut_width=6, rng=rng)
    codes = np.arange(-32, 32)
    reps = 4000
    z = np.tile((codes / 4.0).astype(np.float32), (reps, 1))
    s = bsn_sample(z, seed=17, device=d)
    assert binomial_ok(s.sum(0).astype(np.float64), reps, d.lut / 64.0)


def test_digital_tiles_use_the_lut_per_tile():
    d = Digital()
    zs = np.array([-3.0, 0.0, 1.25, 4.0], np.float32)
    reps = 5000
    out = tiled_logistic(np.tile(zs, (reps, 1)), 7, seed=5, device=d)
    expected = d.probability(zs[:, None] - tile_offsets(7)).sum(1)
    var = (d.probability(zs[:, None] - tile_offsets(7)) *
           (1 - d.probability(zs[:, None] - tile_offsets(7)))).sum(1)
    assert np.all(np.abs(out.mean(0) - expected) <= 5 * np.sqrt(var / reps) + 1e-9)


def test_lfsr_period():
    assert lfsr_is_maximal(Digital().taps)
    # the algebraic test agrees with brute force on 16-bit LFSRs
    for taps, maximal in (((16, 14, 13, 11), True), ((16, 15, 13, 4), True),
                          ((16, 14, 13, 10), False), ((16, 8), False)):
        mask, s, period = lfsr_mask(taps, 16), 1, 0
        while True:
            s, period = lfsr_step(s, mask), period + 1
            if s == 1:
                break
        assert (period == 2 ** 16 - 1) == maximal == lfsr_is_maximal(taps, 16)


def test_lfsr_jump_tables_equal_repeated_clocks():
    d = Digital(clocks=5, taps=(32, 7, 5, 3, 2, 1))
    mask = lfsr_mask(d.taps)
    for state in (1, 0xDEADBEEF, 0x80000000, 0x12345678):
        s = state
        for _ in range(5):
            s = lfsr_step(s, mask)
        jumped = 0
        for byte in range(4):
            jumped ^= int(d.lfsr_jump[byte, (state >> (8 * byte)) & 255])
        assert jumped == s


def test_digital_validation():
    with pytest.raises(ValueError, match="lut_depth"):
        Digital(lut_depth=3)
    with pytest.raises(ValueError, match="lut_depth"):
        Digital(int_bits=2, frac_bits=1, lut_depth=32)
    with pytest.raises(ValueError, match="lut_width"):
        Digital(lut_width=33)
    with pytest.raises(ValueError, match="rng"):
        Digital(rng="mt19937")
    with pytest.raises(ValueError, match="taps"):
        Digital(taps=(31, 3))


# -------------------------------------------------------------------------------- sMTJ
def test_smtj_variation_and_fault_statistics():
    dev = Smtj(offset_sd=0.3, slope_sd=0.2, stuck_rate=0.05, stuck_high=0.25, device_seed=4)
    slope, offset, stuck = dev.parameters(20000, 5)
    n = slope.size
    # normal offsets and log-normal slopes with the configured spreads (chi-square on variance)
    for sample, sd in ((offset, 0.3), (np.log(slope), 0.2)):
        assert abs(sample.mean()) < 5 * sd / np.sqrt(n)
        chi2 = (n - 1) * sample.var(ddof=1) / sd ** 2
        assert stats.chi2.sf(chi2, n - 1) > 1e-4 and stats.chi2.cdf(chi2, n - 1) > 1e-4
    broken = stuck >= 0
    assert binomial_ok(np.array([broken.sum()], np.float64), n, [0.05])
    assert binomial_ok(np.array([(stuck == 1).sum()], np.float64), int(broken.sum()), [0.25])
    # the same devices every time; another layer gets other devices
    assert np.array_equal(dev.parameters(20000, 5)[1], offset)
    assert not np.array_equal(dev.for_layer(1).parameters(20000, 5)[1], offset)


def test_smtj_sampling_follows_each_device():
    dev = Smtj(offset_sd=1.0, slope_sd=0.5, stuck_rate=0.2, device_seed=9)
    units, reps = 40, 6000
    z = np.tile(np.linspace(-2, 2, units, dtype=np.float32), (reps, 1))
    s = bsn_sample(z, seed=1, device=dev)
    slope, offset, stuck = dev.parameters(units, 1)
    p = sigmoid(slope * z[0] + offset)
    p = np.where(stuck >= 0, stuck, p)
    assert binomial_ok(s.sum(0).astype(np.float64), reps, p)
    assert np.all(s[:, stuck == 1] == 1) and np.all(s[:, stuck == 0] == 0)


def test_smtj_without_variation_is_ideal_in_distribution():
    reps = 20000
    z = np.tile(np.linspace(-4, 4, 17, dtype=np.float32), (reps, 1))
    s = bsn_sample(z, seed=2, device=Smtj())
    assert binomial_ok(s.sum(0).astype(np.float64), reps, sigmoid(z[0]))


# ---------------------------------------------------------------------------- parsing
def test_parse_device():
    assert parse_device("ideal") == Ideal()
    assert parse_device("smtj:offset_sd=0.2,stuck_rate=0.01") == Smtj(offset_sd=0.2,
                                                                      stuck_rate=0.01)
    d = parse_device("digital:frac_bits=4,rng=xoshiro128,taps=32/7/5/3/2/1")
    assert d == Digital(frac_bits=4, rng="xoshiro128", taps=(32, 7, 5, 3, 2, 1))
    for bad, message in (("quantum", "unknown p-bit device"), ("smtj:foo=1", "no option 'foo'"),
                         ("digital:frac_bits=x", "not a valid int"),
                         ("smtj:stuck_rate=2", "stuck_rate must be in")):
        with pytest.raises(ValueError, match=message):
            parse_device(bad)


_THREAD_SCRIPT = """
import hashlib, numpy as np
from pbitsim.kernels import tiled_logistic
from pbitsim.hardware.devices import Digital, Smtj
z = np.random.default_rng(1).standard_normal((64, 3, 17)).astype(np.float32)
parts = [tiled_logistic(z, 4, 8, device=d) for d in
         (Digital(), Digital(rng="xoshiro128"), Smtj(offset_sd=0.5, stuck_rate=0.1))]
print(hashlib.sha256(b"".join(p.tobytes() for p in parts)).hexdigest())
"""


def test_devices_identical_on_one_and_two_threads(digests_on_threads):
    assert len(digests_on_threads(_THREAD_SCRIPT)) == 1
