"""Hardware descriptions: the built-ins, the derivation rules (against hand-worked values),
area by component."""

import dataclasses
import math
import sys

import pytest

from pbitsim.hardware.library import (
    DEFAULT_HARDWARE, HARDWARE_DIR, HardwareError, area_by_component_um2, datapath_area_um2,
    derive_access_pj, derive_area_um2, hardware_from_mapping, hardware_toml, list_hardware,
    load_hardware)
from pbitsim.hardware.spec import TENSOR_CLASSES, Hardware
from pbitsim.hardware.tables import TABLE_DIR, EnergyTable, load_table

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

approx = pytest.approx
H45 = load_table("horowitz-45nm")


def test_every_builtin_loads_and_is_sourced():
    names = list_hardware()
    assert {"table-levels", "eyeriss", "systolic-ws", "pbit-accel"} <= set(names)
    assert DEFAULT_HARDWARE in names
    for name in names:
        hw = load_hardware(name)
        assert hw.name == name and hw.title and hw.source
        assert load_hardware(hw) is hw
        if not hw.hierarchical:
            assert hw.levels == ()
            continue
        assert hw.levels[-1].kind == "dram" and set(hw.levels[-1].holds) == set(TENSOR_CLASSES)
        assert hw.compute.source and hw.clock_hz > 0
        for lv in hw.levels:
            assert lv.source, (name, lv.name)
        with open(HARDWARE_DIR / f"{name}.toml", "rb") as fh:
            raw = tomllib.load(fh)
        for body in raw["levels"]:  # what a file omits is exactly what is marked derived
            lv = hw.level(body["name"])
            assert set(lv.derived) == {k for k in ("read_pj", "write_pj", "area_um2")
                                       if k not in body}


def test_table_levels_is_todays_pricing():
    hw = load_hardware("table-levels")
    assert hw.model == "flat" and hw.table == "horowitz-45nm" and not hw.hierarchical
    assert area_by_component_um2(hw) == {}


def test_eyeriss_figures_and_normalized_costs():
    hw = load_hardware("eyeriss")
    assert (hw.compute.rows, hw.compute.cols, hw.clock_hz) == (12, 14, 200e6)
    assert hw.level("rf").capacity_bytes == 2 * (224 + 12 + 24) and hw.level("rf").per_pe
    assert hw.level("glb").capacity_bytes == 108 * 1024
    mac = H45.unit_pj("mul:int16") + H45.unit_pj("add:int16")
    assert mac == approx(0.78 + 0.03 + 0.07 / 3)
    # Chen et al. 2016, Table IV: RF 1, array 2, buffer 6, DRAM 200 (per 16-bit word)
    ratios = [hw.level("rf").read_pj / mac, hw.compute.noc_pj / mac,
              hw.level("glb").read_pj / mac, hw.level("dram").read_pj / mac]
    assert ratios == approx([1, 2, 6, 200], rel=1e-3)
    for lv in hw.levels:
        assert lv.access_bits == 16 and "read_pj" not in lv.derived


def test_pbit_accel_sizing():
    hw = load_hardware("pbit-accel")
    store = hw.level("store")
    params = 589_770  # cfse-cifar10 under BSFF (pbitsim estimate --arch cfse-cifar10)
    assert 3 * 4 * params <= store.capacity_bytes  # weights + Adam's two moments fit
    assert hw.pbits.device == "smtj" and hw.pbits.count == 1024 and hw.pbits.sample_ns == 5
    assert hw.compute.zero_inputs == "skip"


# --- the derivation rules, against values worked by hand --------------------------------

@pytest.mark.parametrize("kind, capacity, bits, pj", [
    ("sram", 8192, 64, 10.0),                       # the table's own entry
    ("sram", 16384, 64, math.sqrt(10 * 20)),         # log-log midpoint of 8 KB and 32 KB
    ("sram", 4096, 64, 10 / math.sqrt(2)),           # first segment (slope 1/2) extended
    ("sram", 1 << 20, 32, 50.0),                     # 1 MB entry, half the access width
    ("sram", 2 << 20, 64, 137.973),                  # 100 x 2^(ln 5 / ln 32), last segment
    ("sram", 1, 64, 0.576),                          # floored at a register: 64 x 0.009
    ("register", 512, 16, 0.144),                    # 16 x Aladdin's 0.009 pJ per bit
    ("register", 16384, 64, math.sqrt(10 * 20)),     # as large as an SRAM: priced as one
    ("dram", math.inf, 16, 325.0),                   # 1300 pJ per 64 bits, a quarter
])
def test_derive_access_pj_by_hand(kind, capacity, bits, pj):
    read, write = derive_access_pj(H45, kind, capacity, bits)
    assert read == approx(pj, rel=1e-5) and write == approx(pj, rel=1e-5)


def test_derive_keeps_read_and_write_apart():
    with open(TABLE_DIR / "horowitz-45nm.toml", "rb") as fh:
        data = tomllib.load(fh)
    for body in data["memory"].values():
        body["write_pj"] = 2 * body["read_pj"]
    table = EnergyTable.from_mapping(data)
    read, write = derive_access_pj(table, "sram", 16384, 64)
    assert (read, write) == (approx(math.sqrt(200)), approx(2 * math.sqrt(200)))


def test_derive_area_by_hand():
    assert derive_area_um2(H45, "sram", 108 * 1024) == approx(108 * 4049.0)
    assert derive_area_um2(H45, "register", 520) == approx(520 * 8 * 5.98)
    assert derive_area_um2(H45, "dram", math.inf) == 0.0
    assert datapath_area_um2(H45, "fp32") == approx(4361 + 8967)
    assert datapath_area_um2(H45, "int16") == approx(278 / 2 + 6351 / 4)
    assert datapath_area_um2(H45, "int32") == approx(278 + 6351)
    with pytest.raises(ValueError, match="area.add_fp16"):
        datapath_area_um2(H45, "fp16")
    with pytest.raises(ValueError, match="sram_per_kb"):
        derive_area_um2(load_table("jouppi-7nm"), "sram", 1024)


def test_area_by_component():
    hw = load_hardware("eyeriss")
    area = area_by_component_um2(hw)
    assert area["compute"] == approx(168 * (278 / 2 + 6351 / 4))
    assert area["rf"] == approx(168 * 520 * 8 * 5.98)
    assert area["glb"] == approx(108 * 4049.0)
    assert area["dram"] == 0 and area["pbits"] is None  # one per unit and tile: the net's
    accel = area_by_component_um2(load_hardware("pbit-accel"))
    assert accel["pbits"] == approx(1024 * 0.8)


def test_toml_round_trips():
    for name in list_hardware():
        hw = load_hardware(name)
        again = hardware_from_mapping(tomllib.loads(hardware_toml(hw)), hw.path)
        assert again == hw
        assert [lv.derived for lv in again.levels] == [() for _ in again.levels]


def test_a_user_file_is_labelled_by_its_path(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text((HARDWARE_DIR / "eyeriss.toml").read_text())
    hw = load_hardware(str(path))
    assert hw.name == str(path)
    assert dataclasses.replace(hw, name="eyeriss", path=None) == dataclasses.replace(
        load_hardware("eyeriss"), path=None)


def test_a_table_file_beside_the_description(tmp_path):
    (tmp_path / "mytable.toml").write_text((TABLE_DIR / "horowitz-45nm.toml").read_text())
    text = (HARDWARE_DIR / "systolic-ws.toml").read_text().replace(
        'table = "horowitz-45nm"', 'table = "mytable.toml"')
    (tmp_path / "hw.toml").write_text(text)
    hw = load_hardware(str(tmp_path / "hw.toml"))
    assert hw.table == str(tmp_path / "mytable.toml")
    assert hw.levels == load_hardware("systolic-ws").levels


def test_errors_are_hardware_errors():
    with pytest.raises(HardwareError, match="unknown hardware 'nope'"):
        load_hardware("nope")
    assert issubclass(HardwareError, ValueError)
    assert isinstance(load_hardware(), Hardware)
