"""`pbitsim tables list|show NAME [--toml]`."""

from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.hardware.tables import load_table


def run(*args):
    return CliRunner().invoke(cli, ["tables", *args])


def test_list():
    result = run("list")
    assert result.exit_code == 0
    for name in ("horowitz-45nm", "jouppi-7nm", "stillmaker-7nm"):
        assert name in result.output


def test_show():
    result = run("show", "horowitz-45nm")
    assert result.exit_code == 0
    for text in ("mul_fp32", "3.7 pJ", "sram_1mb", "smtj", "digital", "ideal", "lut_cell",
                 "1.115 pJ", "1919 um^2", "Levels", "Rules", "Horowitz", "Aladdin"):
        assert text in result.output
    assert "[unverified]" in run("show", "jouppi-7nm").output


def test_show_toml_round_trips(tmp_path):
    for name in ("horowitz-45nm", "stillmaker-7nm"):
        result = run("show", name, "--toml")
        assert result.exit_code == 0
        path = tmp_path / f"{name}-copy.toml"
        path.write_text(result.output)
        copy, original = load_table(path), load_table(name)
        for key in ("add:fp32", "mul:int16", "weight_read:fp32", "stash_write:fp32",
                    "pbit_sample"):
            assert copy.unit_pj(key) == original.unit_pj(key)
        for device in ("smtj", "digital:rng=xoshiro128"):
            assert (copy.with_device(device).device_cost()
                    == original.with_device(device).device_cost())


def test_unknown_table_is_one_line():
    result = run("show", "nope")
    assert result.exit_code == 2
    assert result.output.strip().startswith("Error: unknown table 'nope'")
    assert len(result.output.strip().splitlines()) == 1
