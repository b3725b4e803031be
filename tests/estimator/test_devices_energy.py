"""p-bit devices in the energy model: specs, per-device energy and area, p-bit counts."""

import math

import pytest
from em_helpers import convnet, mlp

from pbitsim.hardware.tables import TableError, load_table
from pbitsim.estimator import estimate, hardware_summary
from pbitsim.network.archs import load_arch
from pbitsim.hardware.devices import parse_device
from pbitsim.hardware.pricing import price_counts
from pbitsim.hardware.pbits import pbits_per_block, spec_string
from pbitsim.hardware.tables import TABLE_DIR

approx = pytest.approx


def cost(spec, table="horowitz-45nm"):
    return load_table(table).with_device(spec).device_cost()


# --- specs -----------------------------------------------------------------------------

def test_specs_parse_and_print_canonically():
    assert parse_device(None).kind == parse_device("ideal").kind == "ideal"
    dev = parse_device(" digital:lut_width=8, rng=xoshiro128 ,taps=32/7/3/2")
    assert (dev.lut_width, dev.rng, dev.taps) == (8, "xoshiro128", (32, 7, 3, 2))
    assert spec_string(dev) == "digital:lut_width=8,rng=xoshiro128,taps=32/7/3/2"
    assert spec_string(parse_device("digital")) == "digital"
    assert spec_string(parse_device("smtj:stuck_rate=0.01")) == "smtj:stuck_rate=0.01"
    assert parse_device(spec_string(dev)) == dev
    assert parse_device(dev) is dev


@pytest.mark.parametrize("spec, message", [
    ("quantum", "unknown p-bit device 'quantum'"),
    ("digital:foo=1", "has no option 'foo'"),
    ("digital:lut_width", "has no option 'lut_width'"),
    ("digital:lut_width=x", "lut_width='x' is not a valid int"),
    ("digital:lut_width=33", "lut_width must be in 1..32"),
    ("digital:lut_depth=12", "lut_depth must be a power of two"),
    ("digital:int_bits=1,frac_bits=0,lut_depth=8", "lut_depth must be a power of two in 2..4"),
    ("digital:int_bits=20,frac_bits=8", "at most 24 bits"),
    ("digital:rng=mt", "rng must be one of"),
    ("digital:taps=31/2", "LFSR taps"),
    ("digital:clocks=0", "clocks must be >= 1"),
    ("smtj:offset_sd=-1", "offset_sd must be >= 0"),
    ("ideal:x=1", "has no option 'x'"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")) as info:
        parse_device(spec)
    assert "\n" not in str(info.value)


# --- what one p-bit costs ----------------------------------------------------------------

def test_smtj_and_ideal_come_from_the_table():
    tab = load_table()
    smtj = cost("smtj")
    assert (smtj.energy_per_sample_pj, smtj.area_um2) == (0.002, 0.8)
    assert cost("smtj:offset_sd=0.3,stuck_rate=0.1").energy_per_sample_pj == 0.002
    ideal = cost("ideal")
    assert (ideal.priced_as, ideal.energy_per_sample_pj, ideal.area_um2) == ("smtj", 0.002, 0.8)
    as_digital = tab.with_levels(pbit="digital").with_device("ideal").device_cost()
    assert as_digital.energy_per_sample_pj == approx(cost("digital").energy_per_sample_pj)
    assert tab.unit_pj("pbit_sample") == 0.002          # no device given: ideal


def test_default_digital_by_hand():
    """s4.3 input, 256 x 16 LUT, LFSR32 with 4 taps and 32 clocks, horowitz-45nm."""
    registers = 8 + 32 + 1                      # input code, LFSR state, output bit
    xors = 32 * 3                               # clocks x (taps - 1)
    energy = (registers * 0.009 + xors * 0.01806 / 32 + 8 / 32 * 0.21 + 16 / 32 * 0.02947
              + 16 * 10 / 64 * math.sqrt(256 * 16 / (8192 * 8)))
    area = (registers * 5.98 + xors * 50.37 / 32 + 8 / 32 * 278 + 16 / 32 * 71
            + 256 * 16 * 0.346)
    got = cost("digital")
    assert got.energy_per_sample_pj == approx(energy) == approx(1.115415)
    assert got.area_um2 == approx(area) == approx(1918.506)
    assert sum(p["energy_pj"] for p in got.parts.values()) == approx(energy)


def test_xoshiro_digital_by_hand():
    got = cost("digital:int_bits=2,frac_bits=1,lut_depth=16,lut_width=8,rng=xoshiro128")
    registers = 4 + 128 + 1
    adder_bits = 4 + 2 * 32                     # bias add + the two scrambler adds
    energy = (registers * 0.009 + 160 * 0.01806 / 32 + adder_bits / 32 * 0.21
              + 8 / 32 * 0.02947 + 8 * 10 / 64 * math.sqrt(16 * 8 / 65536))
    area = registers * 5.98 + 160 * 50.37 / 32 + adder_bits / 32 * 278 + 8 / 32 * 71 + 128 * 0.346
    assert got.energy_per_sample_pj == approx(energy) == approx(1.79616, rel=1e-5)
    assert got.area_um2 == approx(area) == approx(1699.978)


@pytest.mark.parametrize("smaller, larger", [
    ("digital:lut_width=8", "digital:lut_width=16"),
    ("digital:lut_depth=64", "digital:lut_depth=128"),
    ("digital:frac_bits=2,lut_depth=64", "digital:frac_bits=3,lut_depth=64"),
    ("digital:int_bits=3,lut_depth=64", "digital:int_bits=4,lut_depth=64"),
    ("digital", "digital:rng=xoshiro128"),
    ("digital:clocks=8", "digital:clocks=32"),
    ("digital:taps=32/22", "digital"),
    ("smtj", "digital:int_bits=1,frac_bits=0,lut_depth=2,lut_width=1,clocks=1,taps=32"),
])
def test_energy_and_area_follow_the_configuration(smaller, larger):
    a, b = cost(smaller), cost(larger)
    assert a.energy_per_sample_pj < b.energy_per_sample_pj
    assert a.area_um2 < b.area_um2


def test_digital_follows_the_table():
    base, derived = cost("digital"), cost("digital", "stillmaker-7nm")
    assert derived.energy_per_sample_pj < base.energy_per_sample_pj / 10
    assert derived.area_um2 == base.area_um2           # the scaling rule covers energy only
    assert cost("digital", "jouppi-7nm").energy_per_sample_pj < base.energy_per_sample_pj


def test_price_counts_uses_the_device():
    counts = {"pbit_sample": 1000, "add:fp32": 10}
    assert price_counts(counts)["pbit_pj"] == approx(2.0)
    digital = price_counts(counts, device="digital")
    assert digital["pbit_pj"] == approx(1115.415)
    assert digital["compute_pj"] == approx(9.0)
    tab = load_table().with_device("digital")
    assert price_counts(counts, tab)["pbit_pj"] == approx(1115.415)
    assert price_counts(counts, tab, device="smtj")["pbit_pj"] == approx(2.0)


# --- table format ----------------------------------------------------------------------

def table_text():
    return (TABLE_DIR / "horowitz-45nm.toml").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("energy_per_sample_pj = 0.002", "energy_pj = 0.002"),
     "pbit.smtj.energy_pj"),
    (lambda t: t.replace("area_um2 = 0.8", "area = 0.8"), "unknown key pbit.smtj.area"),
    (lambda t: t.replace("area_um2 = 0.8", "area_um2 = -1"), "pbit.smtj.area_um2 must be"),
    (lambda t: t.replace("[pbit.smtj]", "[pbit.cmos]").replace('pbit = "smtj"', 'pbit = "cmos"'),
     "pbit.cmos is not a p-bit device kind"),
    (lambda t: t.replace("[pbit_parts.xor]", "[pbit_parts.xnor]"), "pbit_parts.xnor"),
    (lambda t: t.replace('lut_memory = "sram_8kb"', 'lut_memory = "dram"'),
     "pbit.digital.lut_memory"),
    (lambda t: t.replace('lut_memory = "sram_8kb"\n', ''), "pbit.digital lacks 'lut_memory'"),
    (lambda t: t.replace("area_um2 = 0.346", "area_um2 = 0.346\nenergy_pj = 1"),
     "pbit_parts.lut_cell.energy_pj"),
])
def test_malformed_pbit_entries_name_the_key(tmp_path, edit, message):
    path = tmp_path / "t.toml"
    path.write_text(edit(table_text()))
    with pytest.raises(TableError, match=message.replace(".", r"\.")) as info:
        load_table(path)
    assert "\n" not in str(info.value)


def test_missing_parts_and_devices(tmp_path):
    text = table_text()
    cut = text.index("[pbit_parts.comparator]")
    path = tmp_path / "t.toml"
    path.write_text(text[:cut] + text[text.index("[pbit_parts.lut_cell]"):])
    with pytest.raises(TableError, match="missing pbit_parts.comparator"):
        load_table(path)
    path.write_text(text[:text.index("[pbit.digital]")])
    tab = load_table(path)                  # a table without the digital p-bit loads
    assert tab.with_device("smtj").unit_pj("pbit_sample") == 0.002
    with pytest.raises(ValueError, match="has no pbit.digital entry"):
        tab.with_device("digital")


# --- p-bit counts ------------------------------------------------------------------------

def test_pbit_counts_of_small_nets_by_hand():
    # conv 2ch 3x3 pad 1 on 4x4 -> 2x4x4 units; conv 4ch -> 4x4x4 units; the head has none.
    assert pbits_per_block(convnet(), 3) == [2 * 16 * 3, 4 * 16 * 3]
    assert pbits_per_block(mlp(), 7) == [3 * 7, 2 * 7]
    result = estimate(convnet(), ["bp", "bsff", "bgbsff"], tiles=3, device="smtj")
    assert result.get("bp").n_pbits == 0
    for name in ("bsff", "bgbsff"):
        algo = result.get(name)
        assert [l.n_pbits for l in algo.layers] == [96, 192, 0]
        assert algo.n_pbits == 288 and algo.pbit_area_um2 == approx(288 * 0.8)
        # every p-bit draws once per inference
        for layer in algo.layers:
            assert layer.phases["inference"]["forward"].get("pbit_sample", 0) == layer.n_pbits


@pytest.mark.parametrize("arch, units", [
    ("cwc-cifar10", 20 * 32 * 32 + 80 * 16 * 16 + 240 * 16 * 16 + 480 * 8 * 8),
    ("cwc-mnist", 20 * 28 * 28 + 80 * 14 * 14 + 240 * 14 * 14 + 480 * 7 * 7),
    # CFSE pools after the 2nd and 4th convs: p-bits sit on the units before the pool
    ("cfse-cifar10", 20 * 32 * 32 + 80 * 32 * 32 + 240 * 16 * 16 + 480 * 16 * 16),
    ("cfse-mnist", 20 * 28 * 28 + 80 * 28 * 28 + 240 * 14 * 14 + 480 * 14 * 14),
])
def test_pbit_counts_of_the_cwc_nets(arch, units):
    assert units in (133120, 101920, 286720, 219520)
    for tiles in (1, 7):
        assert sum(pbits_per_block(load_arch(arch), tiles)) == units * tiles
        assert hardware_summary(arch, "bsff", tiles)["n_pbits"] == units * tiles


def test_hardware_summary():
    arch, tab = load_arch("cwc-mnist"), load_table()
    full = estimate(arch, ["bgbsff"], tab, tiles=3, density=0.1, device="digital")
    row = hardware_summary(arch, "bgbsff", 3, device="digital", density=0.1, table=tab)
    algo = full.get("bgbsff")
    assert row["energy_train_pj_per_sample"] == approx(algo.total_pj("train"))
    assert row["energy_inference_pj"] == approx(algo.total_pj("inference"))
    assert row["n_pbits"] == 101920 * 3
    assert row["pbit_area_um2"] == approx(101920 * 3 * 1918.506)
    assert row["pbit_area_mm2"] == approx(row["pbit_area_um2"] * 1e-6)
    assert row["pbit_energy_share"] == approx(
        algo.price["train"]["pbit_pj"] / algo.total_pj("train"))
    assert row["device"] == "digital" and row["pbit_energy_per_sample_pj"] == approx(1.115415)
    smtj = hardware_summary(arch, "bgbsff", 3, device="smtj", density=0.1, table=tab)
    assert smtj["pbit_energy_share"] < row["pbit_energy_share"]
    assert smtj["energy_train_pj_per_sample"] < row["energy_train_pj_per_sample"]
    ff = hardware_summary(arch, "cwc", 3, table=tab)
    assert (ff["n_pbits"], ff["pbit_area_um2"], ff["pbit_energy_share"]) == (0, 0.0, 0.0)
    # energy and p-bits grow with M for a sweep
    rows = [hardware_summary(arch, "bsff", m, table=tab) for m in (1, 2, 4, 7, 10)]
    assert [r["n_pbits"] for r in rows] == [101920 * m for m in (1, 2, 4, 7, 10)]
    energy = [r["energy_train_pj_per_sample"] for r in rows]
    assert energy == sorted(energy)
