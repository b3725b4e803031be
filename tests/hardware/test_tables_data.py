"""The shipped energy tables: format, figures, rules, validation errors."""

import sys

import pytest

from pbitsim.hardware.tables import TableError, list_tables, load_table
from pbitsim.hardware.pricing import price_counts
from pbitsim.hardware.tables import TABLE_DIR, EnergyTable, scaling_factor

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

approx = pytest.approx


def raw(name):
    with open(TABLE_DIR / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


def test_shipped_tables_load():
    names = list_tables()
    assert {"horowitz-45nm", "jouppi-7nm", "stillmaker-7nm"} <= set(names)
    for name in names:
        tab = load_table(name)
        assert tab.name == name
        assert tab.unit_pj("add:fp32") > 0 and tab.unit_pj("pbit_sample") > 0


@pytest.mark.parametrize("name", ["horowitz-45nm", "jouppi-7nm"])
def test_every_figure_has_units_in_its_key_and_a_source(name):
    data = raw(name)
    for section in ("compute", "memory", "pbit", "pbit_parts"):
        for entry, body in data[section].items():
            assert isinstance(body["source"], str) and body["source"]
            if section != "pbit":
                width = body.get("bits", body.get("access_bits"))
                assert isinstance(width, int) and width > 0, entry
            numbers = [k for k, v in body.items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)]
            assert all(k.endswith(("_pj", "_um2")) or k in ("bits", "access_bits",
                                                            "capacity_bytes")
                       for k in numbers), entry
    assert set(data["pbit"]) == {"smtj", "digital"}
    assert data["levels"]["pbit"] == "smtj"


def test_horowitz_figures():
    tab = load_table("horowitz-45nm")
    figures = {"add:int8": 0.03, "add:int32": 0.1, "mul:int8": 0.2, "mul:int32": 3.1,
               "add:fp16": 0.4, "add:fp32": 0.9, "mul:fp16": 1.1, "mul:fp32": 3.7}
    for key, pj in figures.items():
        assert tab.unit_pj(key) == approx(pj)
    assert [tab.memory[m]["read_pj"] for m in ("sram_8kb", "sram_32kb", "sram_1mb")] == [
        10, 20, 100]
    assert 1300 <= tab.memory["dram"]["read_pj"] <= 2600


def test_width_rules():
    tab = load_table("horowitz-45nm")
    assert tab.unit_pj("add:int16") == approx(0.03 + 0.07 * 8 / 24)
    assert tab.unit_pj("mul:int16") == approx(0.2 + 2.9 * (256 - 64) / (1024 - 64))
    assert tab.unit_pj("add:u3") == approx(0.03 * 3 / 8)
    assert tab.unit_pj("mul:u3") == approx(0.2 * (3 / 8) ** 2)
    assert tab.unit_pj("cmp:u3") == approx(tab.unit_pj("add:u3"))
    assert tab.unit_pj("cmp:fp32") == approx(0.1)        # integer compare of 32 bits
    assert tab.unit_pj("add:int64") == approx(0.2)
    # A memory word of b bits costs b/64 of a 64-bit access at its level.
    assert tab.unit_pj("weight_read:fp32") == approx(10 * 32 / 64)
    assert tab.unit_pj("act_read:u1") == approx(10 / 64)
    assert tab.unit_pj("state_write:fp32") == approx(100 / 2)
    assert tab.unit_pj("stash_read:fp32") == approx(1300 / 2)


def test_unknown_keys_raise():
    tab = load_table("horowitz-45nm")
    for key in ("flops:fp32", "add", "add:fp8", "pbit_sample:u1", "weight_peek:fp32",
                "add:q7"):
        with pytest.raises(ValueError, match=key.split(":")[0]):
            tab.unit_pj(key)


def test_derived_table_scales_logic_not_dram():
    base, scaled = load_table("horowitz-45nm"), load_table("stillmaker-7nm")
    factor = scaled.meta["scaling_factor"]
    assert factor == approx(scaling_factor(raw("stillmaker-7nm")["derive"]))
    assert 0.03 < factor < 0.1
    assert scaled.unit_pj("mul:fp32") == approx(base.unit_pj("mul:fp32") * factor)
    assert scaled.unit_pj("weight_read:fp32") == approx(base.unit_pj("weight_read:fp32") * factor)
    assert scaled.memory["dram"]["read_pj"] == base.memory["dram"]["read_pj"]
    assert scaled.pbit["smtj"] == base.pbit["smtj"]
    for part, body in base.pbit_parts.items():
        if "energy_pj" in body:
            assert scaled.pbit_parts[part]["energy_pj"] == approx(body["energy_pj"] * factor)
        assert scaled.pbit_parts[part]["area_um2"] == body["area_um2"]
    assert scaled.derived_from == "horowitz-45nm"


def write(tmp_path, data_text):
    path = tmp_path / "t.toml"
    path.write_text(data_text)
    return path


def good_table_text():
    return (TABLE_DIR / "horowitz-45nm.toml").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('energy_pj = 3.7', 'energy = 3.7'), "compute.mul_fp32.energy"),
    (lambda t: t.replace('energy_pj = 3.7', 'energy_pj = "x"'), "mul_fp32.energy_pj"),
    (lambda t: t.replace('weight = "sram_8kb"', 'weight = "sram_9kb"'), "levels.weight"),
    (lambda t: t.replace('pbit = "smtj"', 'pbit = "magic"'), "levels.pbit"),
    (lambda t: t.replace('[compute.mul_fp32]\nenergy_pj = 3.7\nbits = 32\n'
                         'source = "Horowitz 2014"\n', ''),
     "compute.mul_fp32"),
    (lambda t: t.replace('bits = 32\nsource = "Horowitz 2014"\n\n[compute.mul_fp32]',
                         'bits = 16\nsource = "Horowitz 2014"\n\n[compute.mul_fp32]'),
     "add_fp32.bits"),
    (lambda t: t.replace('access_bits = 64\ncapacity_bytes = 8192', 'capacity_bytes = 8192'),
     "access_bits"),
    (lambda t: t + '\n[compute.div_fp32]\nenergy_pj = 1.0\nbits = 32\nsource = "x"\n',
     "div_fp32"),
    (lambda t: t.replace('source = "Horowitz 2014 (64-bit read); write taken equal to read"\n',
                         '', 1), "sram_8kb lacks 'source'"),
    (lambda t: t + "\n[[broken", "not valid TOML"),
])
def test_malformed_table_names_the_key(tmp_path, edit, message):
    with pytest.raises(TableError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_table(write(tmp_path, edit(good_table_text())))


def test_unknown_table_and_missing_file(tmp_path):
    with pytest.raises(TableError, match="unknown table 'nope'"):
        load_table("nope")
    with pytest.raises(TableError, match="cannot read table"):
        load_table(tmp_path / "missing.toml")


def test_user_table_file_and_levels(tmp_path):
    text = good_table_text().replace('weight = "sram_8kb"', 'weight = "sram_1mb"')
    tab = load_table(write(tmp_path, text))
    assert tab.unit_pj("weight_read:fp32") == approx(50)
    moved = load_table("horowitz-45nm").with_levels(pbit="digital")
    assert moved.unit_pj("pbit_sample") == approx(
        load_table("horowitz-45nm").with_device("digital").unit_pj("pbit_sample"))
    with pytest.raises(TableError, match="levels.pbit"):
        load_table("horowitz-45nm").with_levels(pbit="nope")


def test_linear_in_the_table():
    """Doubling every energy figure doubles every priced total."""
    from pbitsim.estimator import estimate

    data = raw("horowitz-45nm")
    for section in ("compute", "memory", "pbit", "pbit_parts"):
        for body in data[section].values():
            for key in body:
                if key.endswith("_pj"):
                    body[key] *= 2
    doubled = EnergyTable.from_mapping(data)
    for device in ("smtj", "digital:rng=xoshiro128"):
        assert doubled.with_device(device).unit_pj("pbit_sample") == approx(
            2 * load_table().with_device(device).unit_pj("pbit_sample"))
    counts = {"add:fp32": 3, "mul:int16": 2, "cmp:u3": 5, "pbit_sample": 7,
              "weight_read:fp32": 11, "act_write:u3": 13, "state_read:fp32": 1}
    one, two = price_counts(counts), price_counts(counts, doubled)
    for part in ("total_pj", "compute_pj", "memory_pj", "pbit_pj"):
        assert two[part] == approx(2 * one[part])
    base = estimate(table="horowitz-45nm").to_dict()["algorithms"]
    dbl = estimate(table=doubled).to_dict()["algorithms"]
    for algo, numbers in base.items():
        for key in ("train_per_sample_pj", "train_per_epoch_pj", "inference_pj"):
            assert dbl[algo][key] == approx(2 * numbers[key])
        assert dbl[algo]["ratio_to_ff"] == approx(numbers["ratio_to_ff"])
